#!/usr/bin/env python3
"""Dense multi-query recall examples for fine-tuning the bundled model to answer from the
document (issue 6).

make_retrieval.py's training examples carry one fact and one question: the answer is a
few bytes among ~700, so under 1% of the tokens reward copying from the document and the
model learnt to answer from its prior (0% retrieval, even on its own training examples).
Here an example places K facts (make_retrieval.fact: an identifier and its value, a defined
term, a clause), each as its own paragraph at a random line boundary of a stretch of real
training text, then asks all K questions in a shuffled order, each followed by its answer,
in the product's prompt format unchanged:

    <text with K facts>\\n\\nQuestion: q1\\nAnswer: a1\\n\\nQuestion: q2\\nAnswer: a2\\n

so the first question of an example reads exactly like evaluate.py's and the app's prompt
(document, "\\n\\n", "Question: ...\\nAnswer:"), and every later one is the same after a blank
line. The keys within an example are distinct, the values random: only the document can
supply them. Writes CORPUS/train/recall-NAME.txt (examples joined like documents); with
--copy, induction material instead (copy_example), CORPUS/train/copy-NAME.txt.

    python3 scripts/model/make_recall.py CORPUS --name 2k --min-context 150 \\
        --max-context 1600 --max-facts 12 --bytes 16000000 [--seed 21]
"""
import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_retrieval import DOCUMENT_END, NOUNS, QUESTION, WORDS, fact, stretch  # noqa: E402


def facts(rng, k):
    """K facts with distinct questions (so no key is asked twice with two answers)."""
    out, seen = [], set()
    while len(out) < k:
        f = fact(rng)
        if f[1] not in seen:
            seen.add(f[1])
            out.append(f)
    return out


def place(context, statements, rng, back=None):
    """The context with each statement as its own paragraph at a random line boundary; with
    back=(LO, HI) at the boundary nearest to a distance drawn uniformly from LO..HI characters
    before the context's end (the statements after it and the questions add up to ~800 bytes),
    so far facts are as common as near ones."""
    cuts = [i + 1 for i, c in enumerate(context) if c == "\n"] or [len(context)]
    if back:
        at = sorted(min(cuts, key=lambda c: abs(c - len(context) + rng.randint(*back)))
                    for _ in statements)
    else:
        at = sorted(rng.choice(cuts) for _ in statements)
    parts, last = [], 0
    for pos, s in zip(at, statements):
        parts.append(context[last:pos] + "\n" + s + "\n\n")
        last = pos
    parts.append(context[last:])
    return "".join(parts)


def example(text, rng, a):
    ctx = stretch(text, rng.randrange(a.min_context, a.max_context + 1), rng)
    # At most one fact per ~80 bytes of text, so facts stay embedded in real text.
    k = rng.randint(1, max(1, min(a.max_facts, len(ctx.encode()) // 80)))
    fs = facts(rng, k)
    order = list(fs)
    rng.shuffle(fs)  # the facts' order in the text
    rng.shuffle(order)  # the questions' order, independent of it
    doc = place(ctx, [f[0] for f in fs], rng)
    qa = "".join(DOCUMENT_END + QUESTION.format(question=q) + " " + ans for _, q, ans in order)
    return doc + qa + "\n"


LETTERS = "abcdefghijklmnopqrstuvwxyz"


def span(rng):
    """A random string only copying can predict: digits, letter words, vocabulary words or
    identifiers, 8..80 bytes."""
    kind = rng.randrange(4)
    if kind == 0:
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(8, 40)))
    if kind == 1:
        return " ".join("".join(rng.choice(LETTERS) for _ in range(rng.randint(2, 8)))
                        for _ in range(rng.randint(2, 10)))
    if kind == 2:
        return " ".join(rng.choice(WORDS + NOUNS) for _ in range(rng.randint(3, 10)))
    return " ".join("%s_%s_%d" % (rng.choice(WORDS).upper(), rng.choice(NOUNS).upper(),
                                  rng.randrange(10, 100)) for _ in range(rng.randint(1, 4)))


def copy_example(text, rng, a):
    """Induction material (the mechanism answering needs, and the bundled model lacked: it
    predicted a random string repeated 50 bytes later no better than the first time): K
    random spans, each written twice or three times, either as lines embedded in real text
    or, in half the examples, as a dense list of lines with no text between."""
    k = rng.randint(1, 6)
    spans = [span(rng) for _ in range(k)]
    rest = spans * rng.randint(1, 2)
    rng.shuffle(rest)
    lines = spans + rest  # every span first, then its repeats in a shuffled order
    if rng.random() < 0.5:
        return "\n".join(lines) + "\n"
    ctx = stretch(text, rng.randrange(a.min_context, a.max_context + 1), rng)
    cuts = sorted(i + 1 for i, c in enumerate(ctx) if c == "\n") or [len(ctx)]
    at = sorted(rng.choice(cuts) for _ in lines)
    parts, last = [], 0
    for pos, s in zip(at, lines):
        parts.append(ctx[last:pos] + s + "\n")
        last = pos
    parts.append(ctx[last:])
    return "".join(parts) + "\n"


def simple_copy_example(rng):
    """The plainest induction material: ten random letters, a space, the same ten again.
    A 2-layer d-64 model trained on it alone with `lectern-cli train` on the CPU shows the
    induction phase change after ~1.5 M tokens (MODEL_CARD.md, limitations)."""
    s = "".join(rng.choice(LETTERS) for _ in range(10))
    return s + " " + s + "\n"


KEY_CHARS = LETTERS + "0123456789"


def assoc_example(text, rng, a):
    """Associative recall (MQAR, as in the Zoology/Based papers): K key=value pairs, then
    queries of earlier keys in a random order, each answered by its value. Unlike the copy
    lines the lookup is by content: the value's offset from its query varies, so only a
    key-bound memory predicts it. Half the examples are a dense line of pairs; in the other
    half each pair is its own line at a random line boundary of real text (the distance
    grows with --max-context), and the queries follow the text."""
    if a.ask:
        return ask_example(text, rng, a)
    if a.plain:
        return plain_assoc_example(rng, a)
    lo, hi = (1, 1) if a.short_keys else (3, 5)
    k = rng.randint(min(2, a.max_facts), min(a.max_facts, 26 if a.short_keys else a.max_facts))
    keys = set()
    while len(keys) < k:
        keys.add("".join(rng.choice(LETTERS if a.short_keys else KEY_CHARS)
                         for _ in range(rng.randint(lo, hi))))
    digits = lambda: "".join(rng.choice("0123456789") for _ in range(rng.randint(lo, hi + 1)))
    pairs = ["%s=%s" % (key, digits()) for key in sorted(keys)]  # sorted: a set's order is not seeded
    rng.shuffle(pairs)
    queries = rng.sample(pairs, rng.randint(max(1, k // 2), k))
    if a.dense or rng.random() < 0.5:
        return " ".join(pairs) + "\n" + " ".join(queries) + "\n"
    ctx = stretch(text, rng.randrange(a.min_context, a.max_context + 1), rng)
    return place(ctx, pairs, rng) + "\n" + "\n".join(queries) + "\n"


def plain_assoc_example(rng, a):
    """The plainest associative recall for this architecture: `a3 k7 z1` then `k7 z1 a3`.
    Mamba-3 has no short convolution, so binding a key to its value takes one layer that
    carries the previous byte into the residual stream and a later one that writes
    key (previous byte) x value (this byte) into the state. With the value right after its
    one-letter key that is a one-byte look-back; reading is by the query's own byte. Every
    pair is queried, in a shuffled order: only a lookup predicts the queried digits."""
    if a.bind and (a.key_len != (1, 1) or a.value_len != (1, 1)):
        return wide_bind_example(rng, a)
    if a.bind:
        # Ten keys whose values are the ten digits in a random order, queried with
        # replacement: every digit was seen and none is used up, so neither the set of
        # digits seen nor which are left to ask (what models learnt on the form above
        # first) predicts a queried digit; only its key's value does.
        pairs = [key + a.sep + d
                 for key, d in zip(rng.sample(LETTERS, 10), rng.sample("0123456789", 10))]
        return " ".join(pairs) + "\n" + " ".join(rng.choice(pairs) for _ in pairs) + "\n"
    k = rng.randint(min(2, a.max_facts), min(a.max_facts, 26))
    pairs = [key + a.sep + rng.choice("0123456789") for key in rng.sample(LETTERS, k)]
    return " ".join(pairs) + "\n" + " ".join(rng.sample(pairs, k)) + "\n"


def wide_bind_example(rng, a):
    """--bind widened (a step from one-letter keys and one digit toward real key=value text):
    ten distinct keys of --key-len letters or digits (two-byte and longer keys often share
    their last byte, so a lookup by the last byte alone fails), values of --value-len random
    digits, then ten queries drawn with replacement."""
    keys = set()
    while len(keys) < 10:
        n = rng.randint(*a.key_len)
        keys.add("".join(rng.choice(LETTERS if n == 1 else KEY_CHARS) for _ in range(n)))
    pairs = ["%s%s%s" % (key, a.sep, "".join(rng.choice("0123456789")
                                             for _ in range(rng.randint(*a.value_len))))
             for key in sorted(keys)]  # sorted: a set's order is not seeded
    rng.shuffle(pairs)
    return " ".join(pairs) + "\n" + " ".join(rng.choice(pairs) for _ in pairs) + "\n"


def ident(rng):
    """An identifier as make_retrieval.fact names a #define: WORD_NOUN_NN, 12-25 bytes."""
    return "%s_%s_%d" % (rng.choice(WORDS).upper(), rng.choice(NOUNS).upper(), rng.randrange(10, 100))


def ask_example(text, rng, a):
    """The widened bind lookup in the retrieval task's layout (a bridge from the trained
    `k=v` lines to evaluate.py's questions): ten distinct keys (--ident-keys: identifiers as
    the task's #defines name them, else --key-len letters or digits) with values of
    --value-len digits, stated in one of three layouts (a dense `k=v` line as trained, one
    `#define k v` a line, or each #define at a random line boundary of real text), then ten
    questions in the product's prompt format drawn with replacement, each answered."""
    if a.task_facts:
        return ask_facts_example(text, rng, a)
    keys = set()
    while len(keys) < 10:
        n = rng.randint(*a.key_len)
        keys.add(ident(rng) if a.ident_keys else
                 "".join(rng.choice(LETTERS if n == 1 else KEY_CHARS) for _ in range(n)))
    pairs = [(key, "".join(rng.choice("0123456789") for _ in range(rng.randint(*a.value_len))))
             for key in sorted(keys)]  # sorted: a set's order is not seeded
    rng.shuffle(pairs)
    layout = 2 if a.in_text else rng.randrange(3)
    if layout == 0:
        doc = " ".join("%s=%s" % p for p in pairs) + "\n"
    elif layout == 1:
        doc = "".join("#define %s %s\n" % p for p in pairs)
    elif getattr(a, "back", None):  # wide_probe.py's formats have no back
        doc = place(stretch(text, a.back[1] + 200, rng), ["#define %s %s" % p for p in pairs],
                    rng, a.back)
    else:
        ctx = stretch(text, rng.randrange(a.min_context, a.max_context + 1), rng)
        doc = place(ctx, ["#define %s %s" % p for p in pairs], rng)
    return asked(doc, (("What is the value of %s?" % key, value)
                       for key, value in (rng.choice(pairs) for _ in pairs)))


def asked(doc, qas):
    """doc, then each (question, answer) of qas in the product's prompt format."""
    return doc.rstrip("\n") + "".join(DOCUMENT_END + QUESTION.format(question=q) + " " + ans
                                      for q, ans in qas) + "\n"


def ask_facts_example(text, rng, a):
    """--ask --task-facts: ten of the task's facts (make_retrieval.fact: #define values,
    defined terms, clauses; answers of several words bound to a term or a clause number)
    stated one a line or (--in-text, or half the time) each at a random line boundary of real
    text, then ten questions drawn with replacement, each answered."""
    fs = facts(rng, 10)
    if a.in_text or rng.random() < 0.5:
        ctx = stretch(text, rng.randrange(a.min_context, a.max_context + 1), rng)
        doc = place(ctx, [f[0] for f in fs], rng)
    else:
        doc = "".join(f[0] + "\n" for f in fs)
    return asked(doc, (f[1:] for f in (rng.choice(fs) for _ in fs)))


def length_range(text):
    """'2-4' or '3' -> (lo, hi)."""
    lo, _, hi = text.partition("-")
    lo, hi = int(lo), int(hi or lo)
    if not 1 <= lo <= hi:
        raise argparse.ArgumentTypeError("need 1 <= LO <= HI, got %r" % text)
    return lo, hi


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("--name", required=True, help="writes train/recall-NAME.txt")
    ap.add_argument("--min-context", type=int, default=150, help="fewest context bytes")
    ap.add_argument("--max-context", type=int, default=1600, help="most context bytes")
    ap.add_argument("--max-facts", type=int, default=12, help="most facts (and questions)")
    ap.add_argument("--bytes", type=int, default=16_000_000, help="bytes to write")
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--copy", action="store_true",
                    help="write induction material (repeated random spans) instead of questions")
    ap.add_argument("--assoc", action="store_true",
                    help="write associative-recall material (key=value pairs, then queries) "
                    "to train/assoc-NAME.txt")
    ap.add_argument("--short-keys", action="store_true",
                    help="with --assoc: one-letter keys and 1-2 digit values (a lookup by the "
                    "previous occurrence of two bytes, the plainest content-based recall)")
    ap.add_argument("--dense", action="store_true",
                    help="with --assoc: only the dense form (a line of pairs, a line of queries)")
    ap.add_argument("--plain", action="store_true",
                    help="with --assoc: the plainest form, one-letter keys each followed by "
                    "one digit, a line of pairs then all of them queried (plain_assoc_example)")
    ap.add_argument("--bind", action="store_true",
                    help="with --assoc --plain: ten pairs whose values are the ten digits, "
                    "queried with replacement (only a key-bound lookup helps)")
    ap.add_argument("--sep", default="",
                    help="with --assoc --plain: between a key and its digit (e.g. '=': the key is "
                    "then two bytes back, a step toward real key=value text)")
    ap.add_argument("--key-len", type=length_range, default=(1, 1), metavar="LO-HI",
                    help="with --assoc --plain --bind: key length range (wide_bind_example)")
    ap.add_argument("--value-len", type=length_range, default=(1, 1), metavar="LO-HI",
                    help="with --assoc --plain --bind: value length range in digits")
    ap.add_argument("--ask", action="store_true",
                    help="with --assoc: ten keys and values (--key-len, --value-len) stated in "
                    "one of three layouts, then asked as the task's questions (ask_example)")
    ap.add_argument("--ident-keys", action="store_true",
                    help="with --ask: keys are identifiers as the task's #defines name them")
    ap.add_argument("--task-facts", action="store_true",
                    help="with --ask: the task's three kinds of fact instead of key=value pairs "
                    "(ask_facts_example)")
    ap.add_argument("--in-text", action="store_true",
                    help="with --ask: every statement at a line boundary of real text "
                    "(--min-context/--max-context bytes of it: the distance to the questions)")
    ap.add_argument("--back", type=length_range, metavar="LO-HI",
                    help="with --ask --in-text: each statement LO..HI bytes before the text's "
                    "end, uniformly (place; --min/--max-context are then unused)")
    ap.add_argument("--simple", action="store_true",
                    help="with --copy: only ten random letters repeated at once, one a line")
    a = ap.parse_args()
    if not 0 < a.min_context <= a.max_context or a.max_facts < 1:
        ap.error("need 0 < --min-context <= --max-context and --max-facts >= 1")
    rng = random.Random(a.seed)
    kinds = ("code", "prose", "legal")
    train = {}
    for k in kinds:
        path = os.path.join(a.corpus, "train", k + ".txt")
        try:
            with open(path, encoding="utf-8") as f:
                train[k] = f.read()
        except OSError as e:
            sys.exit("make_recall.py: %s: %s (run build_corpus.py first)" % (path, e.strerror))
    out, written, questions = [], 0, 0
    while written < a.bytes:
        text = train[rng.choice(kinds)]
        if a.assoc:
            ex = assoc_example(text, rng, a)
        elif a.copy and a.simple:
            ex = simple_copy_example(rng)
        else:
            ex = (copy_example if a.copy else example)(text, rng, a)
        out.append(ex)
        written += len(ex.encode())
        questions += ex.count("\nAnswer: ")
    prefix = "assoc" if a.assoc else "copy" if a.copy else "recall"
    path = os.path.join(a.corpus, "train", "%s-%s.txt" % (prefix, a.name))
    with open(path, "w", encoding="utf-8") as f:
        f.write(("" if a.copy and a.simple else "\n").join(out))
    print("%s: %d examples, %d questions, %d bytes" % (os.path.basename(path), len(out), questions, written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
