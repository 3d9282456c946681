#!/usr/bin/env python3
"""The corpus and retrieval-data scripts (scripts/model) on a small made-up file tree:
duplicates are dropped, the split is by document (no validation document's text is in the
training files), every kind is written, and every held-out retrieval example holds its
fact once, inside a context of the promised byte length, with the answer being the value
stated in the fact. Python standard library only."""
import argparse
import collections
import gzip
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "..", "..", "scripts", "model")


def words(rng, n):
    vocab = "alpha beta gamma delta file buffer socket licence party notice clause".split()
    return " ".join(rng.choice(vocab) + str(rng.randrange(1000)) for _ in range(n))


def asked_examples(text):
    """(document, [(question, answer), ...]) for each example of make_recall.py's question
    material: a text, then ("\n\nQuestion: q\nAnswer: a")+, then "\n" and the next one."""
    pos = 0
    while pos < len(text):
        i = text.index("\n\nQuestion: ", pos)
        doc, qas = text[pos:i], []
        while text.startswith("\n\nQuestion: ", i):
            j = text.index("\nAnswer: ", i)
            k = text.index("\n", j + 9)
            qas.append((text[i + 12:j], text[j + 9:k]))
            i = k
        yield doc, qas
        pos = i + 2  # the example's closing newline and the one joining examples


def make_tree(root, rng):
    def put(rel, text, gz=False):
        p = os.path.join(root, rel.lstrip("/"))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if gz:
            with gzip.open(p, "wt", encoding="utf-8") as f:
                f.write(text)
        else:
            with open(p, "w", encoding="utf-8") as f:
                f.write(text)
    for i in range(60):
        put("/usr/include/x/h%d.h" % i, "/* %s */\n#define X%d %d\n" % (words(rng, 400), i, i))
        put("/usr/share/man/man1/p%d.1.gz" % i, ".TH P%d 1\n.SH NAME\n%s\n.PP\n%s\n" % (
            i, words(rng, 20), words(rng, 400)), gz=True)
        put("/usr/share/doc/pkg%d/copyright" % i, "Copyright %d\n\n%s\n" % (i, words(rng, 400)))
    put("/usr/include/x/dup.h", open(os.path.join(root, "usr/include/x/h0.h")).read())
    put("/usr/share/common-licenses/L", words(rng, 500))


def main():
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        root, out = os.path.join(tmp, "root"), os.path.join(tmp, "corpus")
        make_tree(root, rng)
        subprocess.run([sys.executable, os.path.join(SCRIPTS, "build_corpus.py"), out, "--root", root,
                        "--valid-fraction", "0.2"], check=True, stdout=subprocess.DEVNULL)
        report = json.load(open(os.path.join(out, "report.json")))["sources"]
        assert report["code/include"]["documents"] == 60, report["code/include"]  # dup.h dropped
        for src in ("code/include", "prose/man", "legal/copyright"):  # a minority held out
            r = report[src]
            assert 0 < r["valid_docs"] < r["train_docs"] / 2, (src, r)
        assert sum(1 for _ in open(os.path.join(out, "manifest.tsv"))) == sum(
            r["documents"] for r in report.values())
        for kind in ("code", "prose", "legal"):
            train = open(os.path.join(out, "train", kind + ".txt"), encoding="utf-8").read()
            docs = [json.loads(l)["text"] for l in open(os.path.join(out, "valid", kind + ".docs.jsonl"))]
            assert docs, kind + ": no validation documents"
            for d in docs:
                assert d.strip() not in train, kind + ": a validation document is in the training text"
        assert "\\f" not in open(os.path.join(out, "train", "prose.txt")).read()  # roff stripped
        # clean_valid.py: a validation paragraph that a train-split file also holds (here one
        # added after the build, as another machine's package could) is dropped, the rest kept
        legal = [json.loads(l)["text"] for l in open(os.path.join(out, "valid", "legal.docs.jsonl"))]
        copied, unique = [[p for p in d.split("\n\n") if len(p) >= 120][0] for d in legal[:2]]
        for i in range(1000):
            stable = "/usr/share/doc/extra%d/copyright" % i
            if hashlib.sha1(("6:%s" % stable).encode()).digest()[0] >= 256 * 0.2:  # train-split
                break
        extra = os.path.join(root, stable.lstrip("/"))
        os.makedirs(os.path.dirname(extra))
        with open(extra, "w", encoding="utf-8") as f:
            f.write("Copyright 1\n\n" + copied + "\n")
        clean = os.path.join(tmp, "clean")
        subprocess.run([sys.executable, os.path.join(SCRIPTS, "clean_valid.py"), out, clean,
                        "--root", root, "--valid-fraction", "0.2"], check=True, stdout=subprocess.DEVNULL)
        kept = open(os.path.join(clean, "legal.txt"), encoding="utf-8").read()
        assert copied not in kept and unique in kept, (len(kept), copied[:40], unique[:40])
        subprocess.run([sys.executable, os.path.join(SCRIPTS, "make_retrieval.py"), out,
                        "--train-bytes", "20000"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        train = open(os.path.join(out, "train", "retrieval.txt"), encoding="utf-8").read()
        assert train.count("\nAnswer: ") >= 10
        for name, n in (("1k", 1024), ("4k", 4096), ("16k", 16384)):
            rows = [json.loads(l) for l in open(os.path.join(out, "valid", "retrieval-%s.jsonl" % name))]
            assert rows, name
            for r in rows:
                doc, ans = r["document"], r["answer"]
                assert ans in doc, (name, ans)
                full = doc + "\n\nQuestion: " + r["question"] + "\nAnswer:"
                assert n - 8 <= len(full.encode()) <= n, (name, len(full.encode()))
                statement = [l for l in doc.split("\n") if ans in l and (
                    l.startswith("#define") or l.startswith('"') or l.startswith("Clause"))]
                assert len(statement) == 1, (name, statement)
        # make_retrieval.py --long-out: examples of the asked context lengths, each ending with
        # the separator byte (`lectern-cli train --window-start-after`), its answer stated in
        # its own text before the question.
        long_path = os.path.join(tmp, "long.txt")
        subprocess.run([sys.executable, os.path.join(SCRIPTS, "make_retrieval.py"), out,
                        "--long-out", long_path, "--long-bytes", "30000", "--long-context",
                        "1000-3000", "--two-facts", "0.5"], check=True, stdout=subprocess.DEVNULL)
        long_text = open(long_path, encoding="utf-8").read()
        assert long_text.endswith("\x1e"), long_text[-20:]
        long_examples = long_text[:-1].split("\x1e")
        assert len(long_examples) >= 8, len(long_examples)
        for ex in long_examples:
            doc, qa = ex.rsplit("\n\nQuestion: ", 1)
            q, ans = qa.split("\nAnswer: ")
            assert ans.endswith("\n") and ans.strip() in doc, (q, ans)
            assert 1000 <= len(doc) <= 3000 + 300, len(doc)
        # --facts 3-5 --ask-all: every fact of an example asked once, each answer stated in
        # that example's own text (a fact per question, so 3-5 distinct questions).
        subprocess.run([sys.executable, os.path.join(SCRIPTS, "make_retrieval.py"), out,
                        "--long-out", long_path, "--long-bytes", "30000", "--long-context",
                        "1000-3000", "--facts", "3-5", "--ask-all"], check=True,
                       stdout=subprocess.DEVNULL)
        many = open(long_path, encoding="utf-8").read()[:-1].split("\x1e")
        assert len(many) >= 8, len(many)
        for ex in many:
            doc, rest = ex.split("\n\nQuestion: ", 1)
            qas = re.findall(r"Question: (.*)\nAnswer: (.*)\n", "Question: " + rest)
            assert "".join("Question: %s\nAnswer: %s\n" % qa for qa in qas) == "Question: " + rest
            assert 3 <= len(qas) <= 5 and len(set(q for q, _ in qas)) == len(qas), qas
            for q, ans in qas:
                assert ans.strip() in doc, (q, ans)
        bad = subprocess.run([sys.executable, os.path.join(SCRIPTS, "make_retrieval.py"), out,
                              "--long-out", long_path, "--facts", "4-2"], capture_output=True)
        assert bad.returncode != 0, "--facts 4-2 was accepted"
        # make_recall.py: every example asks questions whose answers its own text states
        # (before the first question), in the prompt format; --copy repeats its spans.
        subprocess.run([sys.executable, os.path.join(SCRIPTS, "make_recall.py"), out, "--name", "t",
                        "--bytes", "30000", "--max-context", "900"], check=True,
                       stdout=subprocess.DEVNULL)
        recall = open(os.path.join(out, "train", "recall-t.txt"), encoding="utf-8").read()
        examples, asked = 0, 0
        for doc, qas in asked_examples(recall):
            examples += 1
            for q, ans in qas:
                assert ans.strip() in doc, (q, ans)
                asked += 1
        assert examples >= 10, examples
        assert asked > examples, "no example asked more than one question"
        subprocess.run([sys.executable, os.path.join(SCRIPTS, "make_recall.py"), out, "--name", "t",
                        "--copy", "--bytes", "20000"], check=True, stdout=subprocess.DEVNULL)
        copy = open(os.path.join(out, "train", "copy-t.txt"), encoding="utf-8").read()
        lines = [l for l in copy.split("\n") if l]
        assert sum(1 for l in set(lines) if lines.count(l) >= 2) >= 10
        # --assoc (and --short-keys): queries repeat their key's value from the pairs before
        # them (a query is a key=value whose key was last seen with that value; keys are
        # random, so a key seen with another value is a new pair of a later example).
        for flags, key in (([], "[a-z0-9]{3,5}"), (["--short-keys"], "[a-z]")):
            subprocess.run([sys.executable, os.path.join(SCRIPTS, "make_recall.py"), out, "--name",
                            "t", "--assoc", "--bytes", "20000", "--max-context", "600"] + flags,
                           check=True, stdout=subprocess.DEVNULL)
            assoc = open(os.path.join(out, "train", "assoc-t.txt"), encoding="utf-8").read()
            pairs = re.findall(r"(?<!\S)(%s)=([0-9]+)(?!\S)" % key, assoc)
            last, repeats = {}, 0
            for k, value in pairs:
                repeats += last.get(k) == value
                last[k] = value
            assert repeats >= 10 and repeats >= 0.3 * len(pairs), (flags, repeats, len(pairs))
        # --ask: each example states its keys (or the task's facts) before its questions, and
        # every question's answer is what the text states for that key (k=v, a #define line,
        # or a defined term / clause), in the product's prompt format.
        for flags in ([], ["--ident-keys"], ["--ident-keys", "--in-text"], ["--task-facts"]):
            subprocess.run([sys.executable, os.path.join(SCRIPTS, "make_recall.py"), out, "--name",
                            "a", "--assoc", "--ask", "--bytes", "20000", "--key-len", "2-4",
                            "--value-len", "2-5", "--max-context", "600"] + flags,
                           check=True, stdout=subprocess.DEVNULL)
            ask = open(os.path.join(out, "train", "assoc-a.txt"), encoding="utf-8").read()
            examples = 0
            for doc, qas in asked_examples(ask):
                examples += 1
                for q, ans in qas:
                    m = re.fullmatch(r"What is the value of (\S+)\?", q)
                    if m and "--task-facts" not in flags:
                        key = re.escape(m.group(1))
                        stated = re.findall(r"^#define %s (\S+)$|(?:^| )%s=(\S+)" % (key, key),
                                            doc, re.M)
                        assert ["".join(v) for v in stated] == [ans], (flags, q, ans, stated)
                    else:
                        assert ans.strip() and ans.strip() in doc, (flags, q, ans)
            assert examples >= 5, (flags, examples)
        # --back LO-HI: every #define stands LO..HI bytes (give or take the statements placed
        # after it, ~30 bytes each here, and a line) before the questions, far ones as common
        # as near ones
        # (over text of short lines, as real text mostly is: a statement goes at a line boundary)
        lines = os.path.join(tmp, "lines")
        os.makedirs(os.path.join(lines, "train"))
        for k in ("code", "prose", "legal"):
            with open(os.path.join(lines, "train", k + ".txt"), "w", encoding="utf-8") as f:
                f.write("\n".join(words(rng, 6) for _ in range(3000)))
        subprocess.run([sys.executable, os.path.join(SCRIPTS, "make_recall.py"), lines, "--name",
                        "b", "--assoc", "--ask", "--ident-keys", "--in-text", "--value-len", "4-5",
                        "--back", "1000-3000", "--bytes", "60000"], check=True,
                       stdout=subprocess.DEVNULL)
        back = []
        for doc, qas in asked_examples(open(os.path.join(lines, "train", "assoc-b.txt"),
                                            encoding="utf-8").read()):
            stated = dict(re.findall(r"^#define (\S+) (\d+)$", doc, re.M))
            assert all(stated.get(q[21:-1]) == ans for q, ans in qas), (stated, qas)
            back += [len(doc) - m.end() for m in re.finditer(r"^#define \S+ \d+$", doc, re.M)]
        assert len(back) >= 100 and 900 <= min(back) and max(back) <= 3000 + 10 * 40, back
        assert 0.3 < sum(d < 2000 for d in back) / len(back) < 0.7, back
        # join_train_logs.py: the stages' lines in order, steps numbered across the lineage,
        # each tagged with its stage; a line that is not JSON names its file and line.
        logs = []
        for name, n in (("a", 3), ("b", 2)):
            logs.append(os.path.join(out, name + ".jsonl"))
            with open(logs[-1], "w", encoding="utf-8") as f:
                f.writelines(json.dumps({"step": i, "loss": 1.0 / i}) + "\n" for i in range(1, n + 1))
        joined = os.path.join(out, "joined.jsonl")
        join = [sys.executable, os.path.join(SCRIPTS, "join_train_logs.py"), joined]
        subprocess.run(join + ["a=" + logs[0], "b=" + logs[1]], check=True,
                       stdout=subprocess.DEVNULL)
        recs = [json.loads(l) for l in open(joined, encoding="utf-8")]
        assert [(r["step"], r["stage"], r["stage_name"], r["stage_step"]) for r in recs] == [
            (1, 1, "a", 1), (2, 1, "a", 2), (3, 1, "a", 3), (4, 2, "b", 1), (5, 2, "b", 2)], recs
        # --every 5: each stage's first and last lines, validation lines, every 5th step
        with open(logs[0], "w", encoding="utf-8") as f:
            f.writelines(json.dumps(dict({"step": i, "loss": 1.0}, **(
                {"val_loss": 2.0} if i == 7 else {}))) + "\n" for i in range(1, 13))
        subprocess.run(join + ["--every", "5", "a=" + logs[0], "b=" + logs[1]], check=True,
                       stdout=subprocess.DEVNULL)
        recs = [json.loads(l) for l in open(joined, encoding="utf-8")]
        assert [(r["step"], r["stage_step"]) for r in recs] == [
            (1, 1), (5, 5), (7, 7), (10, 10), (12, 12), (13, 1), (14, 2)], recs
        # --base: a joined log continued (its lines unchanged), the new stage numbered after it
        more = os.path.join(out, "more.jsonl")
        subprocess.run(join[:2] + ["--base", joined, more, "c=" + logs[1]], check=True,
                       stdout=subprocess.DEVNULL)
        recs2 = [json.loads(l) for l in open(more, encoding="utf-8")]
        assert recs2[:len(recs)] == recs and [(r["step"], r["stage"], r["stage_name"]) for r in
                                              recs2[len(recs):]] == [(15, 3, "c"), (16, 3, "c")], recs2
        with open(logs[1], "a", encoding="utf-8") as f:
            f.write("{not json\n")
        bad = subprocess.run(join + ["a=" + logs[0], "b=" + logs[1]], capture_output=True,
                             text=True)
        assert bad.returncode != 0 and "b.jsonl:3" in bad.stderr, bad.stderr
        # wide_probe.py probes an example laid out as in the widened material (filled and
        # blank lines alike: it once left out the blank line between examples)
        wide = ["--assoc", "--plain", "--bind", "--sep", "=", "--key-len", "1-4", "--value-len", "1-5"]
        subprocess.run([sys.executable, os.path.join(SCRIPTS, "make_recall.py"), out, "--name", "w",
                        "--bytes", "2000"] + wide, check=True, stdout=subprocess.DEVNULL)
        material = open(os.path.join(out, "train", "assoc-w.txt"), encoding="utf-8").read()
        sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
        sys.path.insert(0, SCRIPTS)
        import wide_probe
        fmt = argparse.Namespace(sep="=", key_len=(1, 4), value_len=(1, 5))
        probed, start = wide_probe.probe_text(random.Random(3), fmt)
        shape = [bool(line) for line in probed.split("\n")]
        assert shape == [bool(line) for line in material.split("\n")[:len(shape)]], probed
        assert probed[start - 2:start] == "\n\n" and probed[start:].count("\n") == 2, probed
        # wide_probe.py --ask: the probed second example is ask material, and answer_bits
        # counts exactly its answers' digits (a bit each here), by layout and first/repeat ask
        fmt = argparse.Namespace(sep="=", key_len=(2, 4), value_len=(2, 5), ident_keys=True,
                                 task_facts=False, in_text=False, min_context=150,
                                 max_context=600)
        corpus = words(random.Random(5), 400).replace(" ", "\n", 60)
        for seed in range(6):
            probed, start = wide_probe.ask_text(random.Random(seed), fmt, corpus)
            (doc, qas), = asked_examples(probed[start:])
            answer_at = [i for i in range(start, len(probed)) if probed.startswith(
                wide_probe.ANSWER, i)]
            digits = [i + len(wide_probe.ANSWER) + j for i, (_, a) in zip(answer_at, qas)
                      for j in range(len(a))]
            bits = [0.0] * len(probed)
            for i in digits:
                bits[i] = 1.0
            acc = collections.defaultdict(lambda: [0.0, 0])
            wide_probe.answer_bits(probed, start, bits, acc)
            alls = [v for k, v in acc.items() if k[1] == "all"]
            assert sum(v[0] for v in alls) == sum(v[1] for v in alls) == len(digits) > 0, acc
            assert {k[1] for k in acc if k[1] != "all"} <= {"k=v line", "define lines",
                                                            "in text"}, acc
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
