#!/usr/bin/env python3
"""Long-context retrieval examples made from the real corpus (build_corpus.py's output).

A fact is placed, as its own paragraph, at a random depth (a line boundary) of a stretch of
real text; after the text comes the question in the model's prompt format
(resources/models/default/prompt.json) and the answer. Three kinds of fact, the product's
material: an identifier and its value (code), a defined term and its definition (prose),
a clause number and its content (legal). Names and values are drawn at random, so the
answer can only come from the document.

  train: CORPUS/train/retrieval.txt, examples of 120..--train-max bytes of context drawn
         from the training text, joined like documents (part of the training mix).
  valid: CORPUS/valid/retrieval-<n>.jsonl, held-out examples whose context is validation
         text (documents of all kinds in a seeded order, concatenated when one is too short)
         of exactly n bytes = n tokens (byte-level), n in 1k 4k 16k 64k 256k 1M.

    python3 scripts/model/make_retrieval.py CORPUS [--seed 7] [--train-bytes 3000000]

  long:  with --long-out FILE, only FILE: training examples of --long-context bytes of
         training text (lengths uniform in the range), one fact (two with odds --two-facts,
         or --facts LO-HI of them) at uniform depths, the question asking one (--ask-all:
         every fact asked, one question after another, each with its answer: more answers
         to learn from per long example), each ending with --sep-byte, so that
         `lectern-cli train --window-start-after BYTE` starts every window at an example.

    python3 scripts/model/make_retrieval.py CORPUS --long-out FILE --long-bytes 7000000 \
        --long-context 1000-16000 [--two-facts 0.25] [--sep-byte 30] [--seed 11]
"""
import argparse
import json
import os
import random
import sys

DOCUMENT_END = "\n\n"
QUESTION = "Question: {question}\nAnswer:"
LENGTHS = {"1k": 1024, "4k": 4096, "16k": 16384, "64k": 65536, "256k": 262144, "1M": 1048576}
COUNTS = {"1k": 100, "4k": 100, "16k": 50, "64k": 20, "256k": 10, "1M": 5}

WORDS = ("amber basalt cedar delta ember falcon garnet harbor indigo juniper kestrel lumen "
         "marble nectar onyx pylon quartz raven saffron tundra umber vesper willow xenon "
         "yarrow zephyr copper slate orchid meadow").split()
NOUNS = ("ledger registry archive schedule register manifest inventory charter roster "
         "catalogue index journal").split()
PARTIES = ("Supplier Customer Licensee Licensor Contractor Tenant Landlord Agent Buyer "
           "Seller").split()
VERBS = ("deliver the keys", "pay the invoice", "return the equipment", "give written notice",
         "destroy the copies", "provide the report", "repair the damage", "refund the deposit")
HOLDERS = ("the second auditor", "the night clerk", "the port authority", "the county office",
           "the records team", "the chief engineer", "the harbour master", "the trustee")


def fact(rng):
    """(statement, question, answer) of one random kind."""
    kind = rng.randrange(3)
    if kind == 0:
        ident = "%s_%s_%d" % (rng.choice(WORDS).upper(), rng.choice(NOUNS).upper(), rng.randrange(10, 100))
        value = str(rng.randrange(1000, 100000))
        return ("#define %s %s" % (ident, value), "What is the value of %s?" % ident, value)
    if kind == 1:
        term = "%s %s" % (rng.choice(WORDS).capitalize(), rng.choice(NOUNS).capitalize())
        defn = "the %s %s kept by %s" % (rng.choice(WORDS), rng.choice(NOUNS), rng.choice(HOLDERS))
        return ('"%s" means %s.' % (term, defn), 'What does "%s" mean?' % term, defn)
    clause = "%d.%d" % (rng.randrange(2, 30), rng.randrange(1, 10))
    content = "The %s shall %s within %d days." % (rng.choice(PARTIES), rng.choice(VERBS), rng.randrange(2, 90))
    return ("Clause %s. %s" % (clause, content), "What does clause %s say?" % clause, content)


def insert(context, statement, rng):
    """The context with the statement as its own paragraph at a random line boundary."""
    cuts = [i + 1 for i, c in enumerate(context) if c == "\n"] or [len(context)]
    at = rng.choice(cuts)
    return context[:at] + "\n" + statement + "\n\n" + context[at:], at / max(1, len(context))


def stretch(text, nbytes, rng):
    """A stretch of about nbytes of text starting at a line boundary."""
    if len(text) <= nbytes:
        return text
    start = rng.randrange(0, len(text) - nbytes)
    nl = text.find("\n", start)
    start = nl + 1 if 0 <= nl < start + 200 else start
    return text[start:start + nbytes]


def prompt_of(document, question):
    return document + DOCUMENT_END + QUESTION.format(question=question)


def cut_to_bytes(s, n):
    return s.encode()[:n].decode("utf-8", "ignore")


def long_examples(a, train, kinds, rng):
    """--long-out: examples of --long-context bytes, each ending with the separator byte."""
    lo, hi = (int(x) for x in a.long_context.split("-"))
    flo, fhi = (int(x) for x in (a.facts or "1-1").split("-"))
    if not 1 <= flo <= fhi:
        print("make_retrieval.py: --facts wants LO-HI with 1 <= LO <= HI", file=sys.stderr)
        return 2
    sep = chr(a.sep_byte)
    out, written, facts = [], 0, 0
    while written < a.long_bytes:
        ctx = stretch(train[rng.choice(kinds)], rng.randrange(lo, hi + 1), rng)
        ctx = ctx.replace(sep, " ")
        if a.facts:
            n = rng.randint(flo, fhi)
        else:
            n = 2 if rng.random() < a.two_facts else 1
        statements = []
        while len(statements) < n:  # distinct questions (a clause number may repeat)
            f = fact(rng)
            if all(f[1] != g[1] for g in statements):
                statements.append(f)
        for statement, _, _ in statements:
            ctx, _ = insert(ctx, statement, rng)
        asked = rng.sample(statements, len(statements)) if a.ask_all else [rng.choice(statements)]
        ex = prompt_of(ctx, asked[0][1]) + " " + asked[0][2] + "\n"
        for _, question, answer in asked[1:]:
            ex += QUESTION.format(question=question) + " " + answer + "\n"
        ex += sep
        out.append(ex)
        written += len(ex.encode())
        facts += len(statements)
    with open(a.long_out, "w", encoding="utf-8") as f:
        f.write("".join(out))
    print("long retrieval: %d examples (%d facts), %d bytes, context %d-%d bytes" % (
        len(out), facts, written, lo, hi))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--train-bytes", type=int, default=3_000_000)
    ap.add_argument("--train-max", type=int, default=900, help="most context bytes of a training example")
    ap.add_argument("--long-out", help="write only long training examples to this file")
    ap.add_argument("--long-bytes", type=int, default=7_000_000)
    ap.add_argument("--long-context", default="1000-16000", help="context bytes, LO-HI")
    ap.add_argument("--two-facts", type=float, default=0.25, help="odds of a second fact")
    ap.add_argument("--facts", help="LO-HI facts per long example, uniform (instead of --two-facts)")
    ap.add_argument("--ask-all", action="store_true",
                    help="ask every fact of a long example, one question after another, in random order")
    ap.add_argument("--sep-byte", type=int, default=30, help="byte that ends each long example")
    a = ap.parse_args()
    rng = random.Random(a.seed)

    kinds = ("code", "prose", "legal")
    train = {k: open(os.path.join(a.corpus, "train", k + ".txt"), encoding="utf-8").read() for k in kinds}
    if a.long_out:
        return long_examples(a, train, kinds, rng)
    out, written = [], 0
    while written < a.train_bytes:
        text = train[rng.choice(kinds)]
        ctx = stretch(text, rng.randrange(120, a.train_max), rng)
        statement, question, answer = fact(rng)
        doc, _ = insert(ctx, statement, rng)
        ex = prompt_of(doc, question) + " " + answer + "\n"
        out.append(ex)
        written += len(ex.encode())
    with open(os.path.join(a.corpus, "train", "retrieval.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(out))

    docs = []
    for k in kinds:
        path = os.path.join(a.corpus, "valid", k + ".docs.jsonl")
        with open(path, encoding="utf-8") as f:
            docs += [json.loads(line)["text"] for line in f]
    rng.shuffle(docs)
    pool = "\n\n".join(docs)
    for name, n in LENGTHS.items():
        rows = []
        for i in range(COUNTS[name]):
            statement, question, answer = fact(rng)
            tail = DOCUMENT_END + QUESTION.format(question=question)
            room = n - len(statement.encode()) - 3 - len(tail.encode())
            if len(pool.encode()) < room:
                print("valid text too short for %s" % name, file=sys.stderr)
                break
            start = rng.randrange(0, max(1, len(pool) - room * 2))  # chars >= bytes
            ctx = cut_to_bytes(pool[start:start + room], room)
            doc, depth = insert(ctx, statement, rng)
            rows.append({"length": n, "depth": round(depth, 3), "document": doc,
                         "question": question, "answer": answer})
        with open(os.path.join(a.corpus, "valid", "retrieval-%s.jsonl" % name), "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    print("retrieval: %d training examples (%d bytes); held out: %s" % (
        len(out), written, ", ".join("%s x%d" % (k, v) for k, v in COUNTS.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
