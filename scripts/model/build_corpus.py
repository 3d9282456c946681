#!/usr/bin/env python3
"""Builds the bundled model's training corpus from real text that Debian ships.

Three kinds, the product's material: code (C/C++ headers in /usr/include, the Python
standard library), technical prose (info manuals, man pages, package READMEs, the bundled
sample notes) and legal text (/usr/share/common-licenses, package copyright files).
Deduplicated twice: whole documents by hash, then paragraphs of 120+ bytes already seen
(copyright files quote the same licences over and over). Split into train/validation BY
DOCUMENT (a seeded hash of the path), so no validation text is ever trained on.

Writes OUT/train/<kind>.txt and OUT/valid/<kind>.txt (documents joined by a blank line),
OUT/valid/<kind>.docs.jsonl (the validation documents one by one, for the retrieval set),
OUT/manifest.tsv (split, source, text hash, path of every document) and OUT/report.json; prints bytes and tokens by source. Tokens = bytes (the model is
byte-level). Python 3 standard library only; about a minute.

    python3 scripts/model/build_corpus.py OUT [--seed 6] [--scale 1.0]
"""
import argparse
import glob
import gzip
import hashlib
import json
import os
import re
import sys

# Byte budgets per source (before the split), chosen for the mix: code and prose about
# 40% each, legal text the rest (it is repetitive, and small after deduplication).
BUDGET = {
    "code/include": 4_500_000,
    "code/python": 4_500_000,
    "prose/info": 3_500_000,
    "prose/man": 4_000_000,
    "prose/doc": 1_000_000,
    "prose/samples": 200_000,
    "legal/licenses": 1_500_000,
    "legal/copyright": 3_000_000,
}
MAX_DOC = 200_000  # longer files are cut at a line boundary (one file must not dominate)
MIN_DOC = 400


def read_text(path):
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                raw = f.read(4 * MAX_DOC)
        else:
            with open(path, "rb") as f:
                raw = f.read(4 * MAX_DOC)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile):
        return None
    if "\x00" in text:
        return None
    return text


def cut(text):
    text = text.replace("\r\n", "\n").replace("\t", "    ")
    text = re.sub(r"[ ]+\n", "\n", text)
    text = re.sub(r"\n{4,}", "\n\n\n", text)
    if len(text.encode()) > MAX_DOC:
        b = text.encode()[:MAX_DOC]
        text = b.decode("utf-8", "ignore")
        text = text[: text.rfind("\n") + 1]
    return text.strip("\n") + "\n"


ROFF_ESC = [
    (re.compile(r"\\f(\[[^\]]*\]|\(..|.)"), ""),
    (re.compile(r"\\s[+-]?\d"), ""),
    (re.compile(r"\\\(em|\\\[em\]"), "--"),
    (re.compile(r"\\\(en|\\\[en\]"), "-"),
    (re.compile(r"\\\((aq|cq)|\\\[(aq|cq)\]"), "'"),
    (re.compile(r"\\\((lq|rq|dq)|\\\[(lq|rq|dq)\]"), '"'),
    (re.compile(r"\\\(bu|\\\[bu\]"), "*"),
    (re.compile(r"\\\(..|\\\[[^\]]*\]"), ""),
    (re.compile(r"\\[-]"), "-"),
    (re.compile(r"\\[e\\]"), "\\\\"),
    (re.compile(r"\\[&|^%:/,0 ~]"), ""),
    (re.compile(r"\\\*(\(..|\[[^\]]*\]|.)"), ""),
    (re.compile(r"\\n(\(..|\[[^\]]*\]|.)"), ""),
    (re.compile(r'\\".*'), ""),
]


def roff_to_text(src):
    """A crude man(7) renderer: fast (rendering with man(1) takes ~1 s a page here) and
    good enough for language modelling; macros become headings or plain lines."""
    out = []
    for line in src.split("\n"):
        if line.startswith((".\\\"", "'\\\"", '.\\"')):
            continue
        if line.startswith((".", "'")):
            m = re.match(r"[.']\s*(\w+)\s*(.*)", line)
            if not m:
                continue
            mac, arg = m.group(1), m.group(2)
            if mac in ("SH", "SS"):
                out.append("")
                out.append(arg.strip('"').upper() if mac == "SH" else arg.strip('"'))
            elif mac in ("B", "I", "BI", "BR", "IR", "RB", "RI", "IB", "SM", "SB", "Nm", "Ar", "Fl"):
                out.append(re.sub(r'"', "", arg))
            elif mac in ("PP", "P", "LP", "TP", "IP", "sp", "br"):
                out.append("")
                if mac == "IP" and arg:
                    out.append(arg.split('"')[1] if arg.startswith('"') else arg.split(" ")[0])
            elif mac == "TH":
                out.append(" ".join(arg.replace('"', "").split()[:2]))
            continue
        out.append(line)
    text = "\n".join(out)
    for rx, rep in ROFF_ESC:
        text = rx.sub(rep, text)
    return re.sub(r"\n{3,}", "\n\n", text)


def sources(root):
    """(source, path, loader) for every candidate file, in a fixed order."""
    def files(pattern):
        return sorted(glob.glob(os.path.join(root, pattern.lstrip("/")), recursive=True))

    for p in files("/usr/include/**/*.h") + files("/usr/include/**/*.hpp"):
        yield "code/include", p, read_text
    for p in files("/usr/lib/python3*/**/*.py"):
        if "/test" not in p and "/idlelib/" not in p:
            yield "code/python", p, read_text
    for p in files("/usr/share/info/*.info*.gz"):
        yield "prose/info", p, read_text
    for sec in "15678":
        for p in files("/usr/share/man/man%s/*.gz" % sec):
            yield "prose/man", p, lambda q: (lambda t: t and roff_to_text(t))(read_text(q))
    for p in files("/usr/share/doc/*/README*") + files("/usr/share/doc/*/*.txt"):
        yield "prose/doc", p, read_text  # README.gz too: read_text unpacks it
    here = os.path.dirname(os.path.abspath(__file__))
    samples = os.path.normpath(os.path.join(here, "../../resources/samples"))
    for p in sorted(glob.glob(samples + "/**/*", recursive=True)):
        if p.endswith((".md", ".txt")):
            yield "prose/samples", p, read_text
    for p in files("/usr/share/common-licenses/*"):
        yield "legal/licenses", p, read_text
    for p in files("/usr/share/doc/*/copyright"):
        yield "legal/copyright", p, read_text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every budget")
    ap.add_argument("--valid-fraction", type=float, default=0.06)
    ap.add_argument("--root", default="/", help="file system root to read (tests)")
    a = ap.parse_args()

    by_source = {}
    for src, path, load in sources(a.root):
        by_source.setdefault(src, []).append((path, load))
    seen_docs, seen_paras = set(), set()
    kept = []  # (kind, source, path, text, split)
    report = {}
    def stable(path):
        # The path as seen from --root ("/" + relative), so a tree under a scratch root
        # orders and splits as it would installed at /; for --root / it is the path itself.
        return "/" + os.path.relpath(path, a.root)

    for src in BUDGET:
        # A seeded sample of the source, not its alphabetical head, ordered by a hash of each
        # path: a package installed or removed later changes only its own files' places.
        cands = sorted(by_source.get(src, []),
                       key=lambda c: hashlib.sha1(("order:%d:%s" % (a.seed, stable(c[0]))).encode()).digest())
        budget, used, ndocs = int(BUDGET[src] * a.scale), 0, 0
        for path, load in cands:
            if used >= budget:
                break
            text = load(path)
            if not text:
                continue
            text = cut(text)
            h = hashlib.sha1(text.encode()).digest()
            if h in seen_docs:
                continue
            seen_docs.add(h)
            paras, out = text.split("\n\n"), []
            for para in paras:
                if len(para) >= 120:
                    ph = hashlib.sha1(" ".join(para.split()).encode()).digest()
                    if ph in seen_paras:
                        continue
                    seen_paras.add(ph)
                out.append(para)
            text = "\n\n".join(out).strip("\n") + "\n"
            if len(text) < MIN_DOC:
                continue
            split_hash = hashlib.sha1(("%d:%s" % (a.seed, stable(path))).encode()).digest()
            split = "valid" if split_hash[0] < 256 * a.valid_fraction else "train"
            kept.append((src.split("/")[0], src, path, text, split))
            used += len(text.encode())
            ndocs += 1
        report[src] = {"candidates": len(cands), "documents": ndocs, "bytes": used}

    for split in ("train", "valid"):
        os.makedirs(os.path.join(a.out, split), exist_ok=True)
    sizes = {}
    files = {}
    for kind, src, path, text, split in kept:
        key = (split, kind)
        if key not in files:
            files[key] = open(os.path.join(a.out, split, kind + ".txt"), "w", encoding="utf-8")
            if split == "valid":
                files[(split, kind, "docs")] = open(
                    os.path.join(a.out, split, kind + ".docs.jsonl"), "w", encoding="utf-8")
        files[key].write(text + "\n")
        if split == "valid":
            files[(split, kind, "docs")].write(json.dumps({"path": path, "text": text}) + "\n")
        s = sizes.setdefault(src, {"train_docs": 0, "train_bytes": 0, "valid_docs": 0, "valid_bytes": 0})
        s[split + "_docs"] += 1
        s[split + "_bytes"] += len(text.encode()) + 1
    for f in files.values():
        f.close()
    # Which files went where, so a corpus can be compared with another machine's.
    with open(os.path.join(a.out, "manifest.tsv"), "w", encoding="utf-8") as f:
        for kind, src, path, text, split in kept:
            f.write("%s\t%s\t%s\t%s\n" % (split, src, hashlib.sha1(text.encode()).hexdigest()[:16], path))
    for src in report:
        report[src].update(sizes.get(src, {}))
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump({"seed": a.seed, "scale": a.scale, "tokenization": "bytes", "sources": report}, f, indent=1)
    print("%-16s %6s %12s %6s %12s" % ("source", "train", "bytes=tokens", "valid", "bytes=tokens"))
    tot = [0, 0, 0, 0]
    for src, r in report.items():
        row = [r.get("train_docs", 0), r.get("train_bytes", 0), r.get("valid_docs", 0), r.get("valid_bytes", 0)]
        tot = [x + y for x, y in zip(tot, row)]
        print("%-16s %6d %12d %6d %12d" % (src, *row))
    print("%-16s %6d %12d %6d %12d" % ("total", *tot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
