#!/usr/bin/env python3
"""Does a model copy from its context? Bits per byte of random strings the first and the
second time they appear, with `lectern-cli score`.

A model that copies pays almost nothing for the second occurrence; one that does not pays
about as much as for the first. Answering questions about a document needs exactly this
lookup (MODEL_CARD.md, "Why it cannot answer"). Two formats:
  rep14:  English text, then "k: xxxx xxxx xxxx" on a line and the same line again
          (the check of the model card's limitations);
  simple: make_recall.py --copy --simple lines, ten random letters, a space, the same ten;
  assoc:  make_recall.py --assoc's dense form, eight key=value pairs on a line, then the
          pairs again in another order: the values' bits in the pairs, then in the queries
          (only a lookup by key predicts them the second time);
  assoc1: the same with one-letter keys and two-digit values (--assoc --short-keys);
  plain:  make_recall.py --assoc --plain, eight one-letter keys each followed by one digit,
          after one such example (not in the default --formats: added later); a model that
          keeps only the digits seen and which were asked already also pays less the second
          time (with eight pairs all queried, ~1.9 bits), so:
  bind:   ten pairs whose values are the ten digits, one key queried: "first" is the bits of
          a wrong digit there, "second" of the right one (equal without a key-bound lookup);
  bind=:  the same with `=` between each key and its digit (--sep =: the key two bytes back).

    python3 scripts/model/copy_probe.py --cli BUILD/app/lectern-cli --model MODEL_DIR
"""
import argparse
import json
import os
import random
import string
import subprocess
import sys
import tempfile

PREFIX = "The quick brown fox jumps over the lazy dog. " * 4


def surprisal(cli, model, text):
    """Per-byte bits: bits[i] is the cost of byte i (bits[0] is unknown, 0)."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="ascii") as f:
        f.write(text)
    try:
        r = subprocess.run([cli, "score", "--model", model, "--text", f.name, "--json"],
                           capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    if r.returncode != 0:
        sys.exit("copy_probe.py: %s score failed: %s" % (cli, r.stderr.strip()))
    # token k of the JSON predicts byte k + 1 (byte-level tokenizer: a byte is a token)
    return [0.0] + [t["bits"] for t in json.loads(r.stdout)["tokens"]]


def assoc_probe(rng, k=8, key_len=4, value_len=5, sep="=", prefix=PREFIX):
    """A dense associative-recall line and its queries: (the values' byte offsets in the
    pairs, the same values' offsets in the queries, the text)."""
    keys = set()
    chars = string.ascii_lowercase + (string.digits if key_len > 1 else "")
    while len(keys) < k:
        keys.add("".join(rng.choice(chars) for _ in range(key_len)))
    pairs = [(key, "".join(rng.choice(string.digits) for _ in range(value_len)))
             for key in sorted(keys)]  # sorted: a set's order is not seeded
    queries = rng.sample(pairs, k)
    text, where = prefix + "\n", {}
    for part, seq in (("pair", pairs), ("query", queries)):
        for i, (key, value) in enumerate(seq):
            text += key + sep
            where[(part, key)] = range(len(text), len(text) + len(value))
            text += value + (" " if i + 1 < k else "\n")
    first = [i for key, _ in pairs for i in where[("pair", key)]]
    second = [i for key, _ in pairs for i in where[("query", key)]]
    return first, second, text


def plain_prefix(rng):
    """An earlier make_recall.py --assoc --plain example, so the format is known."""
    pairs = [key + rng.choice(string.digits) for key in rng.sample(string.ascii_lowercase, 8)]
    return " ".join(pairs) + "\n" + " ".join(rng.sample(pairs, 8)) + "\n"


ASSOC_FORMATS = {
    "assoc": assoc_probe,
    "assoc1": lambda rng: assoc_probe(rng, key_len=1, value_len=2),
    "plain": lambda rng: assoc_probe(rng, key_len=1, value_len=1, sep="", prefix=plain_prefix(rng)),
}
FORMATS = ("rep14", "simple", "assoc", "assoc1", "plain", "bind", "bind=")


def bind_probe(cli, model, rng, sep=""):
    """Bits of a queried digit, the wrong one then the right one: ten pairs whose values are
    the ten digits (make_recall.py --assoc --plain --bind), then one key queried. Every digit
    was seen, so a model that keeps the digits seen but not which key had which rates both
    alike; only a key-bound lookup makes the right one cheaper."""
    pairs = list(zip(rng.sample(string.ascii_lowercase, 10), rng.sample(string.digits, 10)))
    key, right = rng.choice(pairs)
    wrong = rng.choice([d for d in string.digits if d != right])
    head = plain_prefix(rng) + "\n" + " ".join(k + sep + v for k, v in pairs) + "\n" + key + sep
    return (surprisal(cli, model, head + wrong + " ")[len(head)],
            surprisal(cli, model, head + right + " ")[len(head)])


def probe(cli, model, kind, n, rng):
    first = second = 0.0
    count = 0
    for _ in range(n):
        if kind in ("bind", "bind="):
            w, r = bind_probe(cli, model, rng, sep=kind[4:])
            first, second, count = first + w, second + r, count + 1
            continue
        if kind == "rep14":
            s = " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(4))
                         for _ in range(3))
            head = PREFIX + "k: "
            text = head + s + "\nk: " + s + "\n"
            a, b = len(head), len(head) + len(s) + 4
        elif kind in ASSOC_FORMATS:
            # assoc1: make_recall.py --assoc --short-keys (one-letter keys, 2-digit values)
            first_part, second_part, text = ASSOC_FORMATS[kind](rng)
            bits = surprisal(cli, model, text)
            first += sum(bits[i] for i in first_part)
            second += sum(bits[i] for i in second_part)
            count += len(first_part)
            continue
        else:
            s = "".join(rng.choice(string.ascii_lowercase) for _ in range(10))
            # three earlier lines so the format itself is known when the probed line comes
            lines = "".join(
                t + " " + t + "\n"
                for t in ("".join(rng.choice(string.ascii_lowercase) for _ in range(10))
                          for _ in range(3)))
            text = lines + s + " " + s + "\n"
            a, b = len(lines), len(lines) + len(s) + 1
        bits = surprisal(cli, model, text)
        first += sum(bits[a:a + len(s)])
        second += sum(bits[b:b + len(s)])
        count += len(s)
    return first / count, second / count


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--n", type=int, default=20, help="strings per format")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--formats", default="rep14,simple,assoc,assoc1",
                    help="comma-separated, of " + ",".join(FORMATS))
    a = ap.parse_args()
    rng = random.Random(a.seed)
    out = {}
    for kind in a.formats.split(","):
        if kind not in FORMATS:
            ap.error("--formats: unknown format %r (known: %s)" % (kind, ",".join(FORMATS)))
        f, s = probe(a.cli, a.model, kind, a.n, rng)
        out[kind] = {"first_bits_per_byte": round(f, 3), "second_bits_per_byte": round(s, 3),
                     "strings": a.n}
        print("copy probe %-6s %s: first %.2f bits/byte, second %.2f bits/byte (%d strings)" %
              (kind, a.model, f, s, a.n), flush=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
