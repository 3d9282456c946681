#!/usr/bin/env python3
"""Held-out text that no corpus of build_corpus.py can have trained on, whatever its sample.

build_corpus.py splits by path and drops each paragraph of 120+ bytes seen earlier in its own
order. A corpus built on another machine (other packages, hence another sample and order) may
have kept in a training document a paragraph that this corpus keeps in a validation document
(licence paragraphs recur in hundreds of copyright files): a model trained on that corpus then
scores that validation text from memory. Here: CORPUS's validation documents with every
paragraph of 120+ bytes dropped that any train-split candidate file under ROOT contains (and
every document whose whole text one contains). Writes OUT/<kind>.txt, the documents joined as
build_corpus.py joins them, and prints how much was kept. Python standard library only.

    python3 scripts/model/clean_valid.py CORPUS OUT [--root /] [--seed 6]
"""
import argparse
import hashlib
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts (it would travel to the GPU machine)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import build_corpus  # noqa: E402


def paragraph_hash(paragraph):
    """As build_corpus.py deduplicates: whitespace runs made one space."""
    return hashlib.sha1(" ".join(paragraph.split()).encode()).digest()


def is_train(path, root, seed, valid_fraction):
    """build_corpus.py's split of a candidate file, by its path as seen from root."""
    stable = "/" + os.path.relpath(path, root)
    return hashlib.sha1(("%d:%s" % (seed, stable)).encode()).digest()[0] >= 256 * valid_fraction


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("out")
    ap.add_argument("--root", default="/", help="file system root the corpus was read from")
    ap.add_argument("--seed", type=int, default=6, help="build_corpus.py's --seed")
    ap.add_argument("--valid-fraction", type=float, default=0.06)
    a = ap.parse_args()
    seen_paras, seen_docs, files = set(), set(), 0
    for _, path, load in build_corpus.sources(a.root):
        if not is_train(path, a.root, a.seed, a.valid_fraction):
            continue
        text = load(path)
        if not text:
            continue
        text = build_corpus.cut(text)
        seen_docs.add(hashlib.sha1(text.encode()).digest())
        seen_paras.update(paragraph_hash(p) for p in text.split("\n\n") if len(p) >= 120)
        files += 1
    print("train-split candidate files: %d, their paragraphs of 120+ bytes: %d" % (files, len(seen_paras)))
    os.makedirs(a.out, exist_ok=True)
    for kind in ("code", "prose", "legal"):
        kept = total = whole = 0
        with open(os.path.join(a.corpus, "valid", kind + ".docs.jsonl"), encoding="utf-8") as src, \
                open(os.path.join(a.out, kind + ".txt"), "w", encoding="utf-8") as out:
            for line in src:
                text = json.loads(line)["text"]
                total += len(text.encode()) + 1
                if hashlib.sha1(text.encode()).digest() in seen_docs:
                    whole += 1
                    continue
                paras = [p for p in text.split("\n\n")
                         if len(p) < 120 or paragraph_hash(p) not in seen_paras]
                text = "\n\n".join(paras).strip("\n") + "\n"
                if len(text) < build_corpus.MIN_DOC:
                    whole += 1
                    continue
                out.write(text + "\n")
                kept += len(text.encode()) + 1
        print("%-6s kept %d of %d bytes (%.0f%%); %d documents dropped whole" % (
            kind, kept, total, 100.0 * kept / max(1, total), whole))
    return 0


if __name__ == "__main__":
    sys.exit(main())
