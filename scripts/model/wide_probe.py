#!/usr/bin/env python3
"""Which part of a widened key-bound lookup has a model learnt? (issue 6)

copy_probe.py's bind probes ask for one digit after a one-letter key. The widened material
(make_recall.py --assoc --plain --bind --sep = --key-len 1-4 --value-len 1-5) has keys of
several bytes and values of several digits; here `lectern-cli score` gives the bits of each
value digit by where it stands: in the pairs line (unpredictable: 3.32 bits a digit is
uniform), after a key queried for the first time (only a key-bound lookup helps), or after
a key queried again in the same line (copying the nearer repeat also helps), split by the
key's length and the digit's place in the value (0, 1, 2 and later). Each probed example
follows another one and a blank line, as in the material, so the format is known.

    python3 scripts/model/wide_probe.py --cli lectern-cli --model MODEL_DIR [--n 30]
    python3 scripts/model/wide_probe.py ... --ask [--ident-keys] [--text FILE]  (questions)
"""
import argparse
import collections
import os
import random
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts (it would travel to the GPU machine)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from copy_probe import surprisal  # noqa: E402
from make_recall import ask_example, length_range, wide_bind_example  # noqa: E402

ANSWER = "\nAnswer: "


def digit_bits(text, start, bits, acc):
    """Adds each value digit's bits of one example (its two lines begin at start) to acc."""
    pos, asked = start, set()
    pairs, queries = text[start:].rstrip("\n").split("\n")
    for part, line in (("pairs", pairs), ("query", queries)):
        for tok in line.split(" "):
            key, value = tok.split("=")
            where = part if part == "pairs" else "query again" if tok in asked else "query first"
            if part == "query":
                asked.add(tok)
            for i in range(len(value)):
                b = bits[pos + len(key) + 1 + i]
                for k in ((where, "all"), (where, "key %d" % len(key), "digit %d" % min(i, 2))):
                    acc[k][0] += b
                    acc[k][1] += 1
            pos += len(tok) + 1


def probe_text(rng, fmt):
    """Two widened examples as make_recall.py writes them, joined by "\n" (a blank line
    between them: without it the probed pairs line reads as a third query line of the example
    before); returns the text and where the probed second example begins."""
    head = wide_bind_example(rng, fmt) + "\n"
    return head + wide_bind_example(rng, fmt), len(head)


def answer_bits(text, start, bits, acc):
    """--ask: adds each answer digit's bits of one ask_example (from start) to acc, by the
    layout its pairs were stated in and whether its question was asked before."""
    doc = text[start:text.index("\n\nQuestion: ", start)]
    layout = "k=v line" if "=" in doc.split("\n", 1)[0] else \
        "define lines" if all(l.startswith("#define ") for l in doc.split("\n")) else "in text"
    asked, pos = set(), text.find(ANSWER, start)
    while pos >= 0:
        q = text.rindex("Question: ", start, pos)
        value = text[pos + len(ANSWER):text.index("\n", pos + len(ANSWER))]
        where = "ask again" if text[q:pos] in asked else "ask first"
        asked.add(text[q:pos])
        for i in range(len(value)):
            b = bits[pos + len(ANSWER) + i]
            for k in ((where, "all"), (where, layout, "digit %d" % min(i, 2))):
                acc[k][0] += b
                acc[k][1] += 1
        pos = text.find(ANSWER, pos + 1)


def ask_text(rng, fmt, corpus):
    """Two ask_example examples joined by "\n" as make_recall.py writes them; the text and
    where the probed second one begins."""
    head = ask_example(corpus, rng, fmt) + "\n"
    return head + ask_example(corpus, rng, fmt), len(head)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--n", type=int, default=30, help="examples")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--key-len", type=length_range, default=(1, 4))
    ap.add_argument("--value-len", type=length_range, default=(1, 5))
    ap.add_argument("--ask", action="store_true",
                    help="probe make_recall.py --ask material instead: answer digits by layout")
    ap.add_argument("--ident-keys", action="store_true", help="with --ask: identifier keys")
    ap.add_argument("--text", help="with --ask: a text file whose lines surround the pairs "
                    "of the in-text layout (default: none, so those pairs stand alone)")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    fmt = argparse.Namespace(sep="=", key_len=a.key_len, value_len=a.value_len,
                             ident_keys=a.ident_keys, task_facts=False, in_text=False,
                             min_context=150, max_context=1600)
    # ASCII only: a byte is a token, and the bits are indexed by the text's characters
    corpus = open(a.text, encoding="utf-8").read().encode("ascii", "ignore").decode() if a.text else ""
    acc = collections.defaultdict(lambda: [0.0, 0])
    for _ in range(a.n):
        if a.ask:
            text, start = ask_text(rng, fmt, corpus)
            answer_bits(text, start, surprisal(a.cli, a.model, text), acc)
        else:
            text, start = probe_text(rng, fmt)
            digit_bits(text, start, surprisal(a.cli, a.model, text), acc)
    for k in sorted(acc):
        total, count = acc[k]
        print("%-32s %5.2f bits a digit (%d digits)" % (", ".join(k), total / count, count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
