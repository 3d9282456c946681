#!/usr/bin/env python3
"""The bundled model's evaluation (issue 6), rerunnable by anyone:

  1. validation bits per byte per kind (code, prose, legal) with `lectern-cli eval` on the
     held-out documents of build_corpus.py, next to `xz -9` on exactly the same bytes;
  2. retrieval accuracy at 1k..1M tokens with `lectern-cli retrieval-eval` on the held-out
     sets of make_retrieval.py;
  3. greedy answers to plain questions about resources/samples documents, verbatim;
  4. CPU decode speed of `lectern-cli generate` (the threads OMP_NUM_THREADS allows).

Writes OUT/metrics.json and OUT/answers.md, and prints what it measures.

    python3 scripts/model/evaluate.py --cli BUILD/app/lectern-cli --model resources/models/default \
        --corpus CORPUS --out OUT [--bytes 131072] [--examples 1k=100,4k=50,...]
"""
import argparse
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))
SAMPLES = os.path.join(ROOT, "resources", "samples")
DEFAULT_EXAMPLES = "1k=100,4k=50,16k=20,64k=10,256k=3,1M=1"

# (document, question, what the document says): plain questions a user would ask.
QUESTIONS = [
    ("contract/services-agreement.pdf", "How many days of written notice are needed to terminate for convenience?", "ninety days"),
    ("contract/services-agreement.pdf", "Which law governs this Agreement?", "the laws of England"),
    ("contract/services-agreement.pdf", "Who is the Supplier?", "Northwind Analytics Ltd"),
    ("source/netclient/src/retry_policy.py", "What is the value of DEFAULT_TIMEOUT_S?", "30"),
    ("mail/termination-notice.eml", "Under which clause is the termination notice given?", "clause 3.3"),
    ("mail/termination-notice.eml", "How many hours was the platform unavailable in August?", "41"),
]


def run(cmd, **kw):
    # errors="replace": a byte-level model may write bytes that are not UTF-8 (an untrained
    # one nearly always does), and its answer or its speed is still what is measured.
    r = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", errors="replace", **kw)
    if r.returncode != 0:
        raise SystemExit("failed (%d): %s\n%s" % (r.returncode, " ".join(cmd[:4]), r.stderr[-2000:]))
    return r.stdout


def document_text(rel):
    path = os.path.join(SAMPLES, rel)
    if rel.endswith(".pdf"):
        if not shutil.which("pdftotext"):
            return None
        return run(["pdftotext", path, "-"])  # reading order, as ingestion extracts it
    with open(path, encoding="utf-8") as f:
        return f.read()


def bits_per_byte(a, out):
    res = {}
    for kind in ("code", "prose", "legal"):
        src = os.path.join(a.corpus, "valid", kind + ".txt")
        with open(src, "rb") as f:
            data = f.read(a.bytes)
        part = os.path.join(out, "valid-%s.txt" % kind)
        with open(part, "wb") as f:
            f.write(data)
        text = run([a.cli, "eval", "--model", a.model, "--text", part, "--seq-len", str(a.seq_len)])
        m = re.search(r"([0-9.]+) bits/byte", text)
        xz = len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME, format=lzma.FORMAT_XZ))
        res[kind] = {"bytes": len(data), "model_bits_per_byte": float(m.group(1)),
                     "xz9e_bits_per_byte": round(8.0 * xz / len(data), 4),
                     "window": a.seq_len}
        print("%-6s %8d bytes: model %.3f bits/byte, xz -9e %.3f bits/byte" % (
            kind, len(data), res[kind]["model_bits_per_byte"], res[kind]["xz9e_bits_per_byte"]), flush=True)
    return res


def retrieval(a):
    res = {}
    for item in a.examples.split(","):
        name, count = item.split("=")
        data = os.path.join(a.corpus, "valid", "retrieval-%s.jsonl" % name)
        if int(count) <= 0:
            res[name] = {"run": False, "why": "not run (0 examples asked)"}
            continue
        t0 = time.time()
        # --max-tokens 96: the longest answer is 58 tokens (" The Contractor shall return the
        # equipment within 89 days."); retrieval-eval's default of 48 cut clause and definition
        # answers short, so they could never match (every clause answer before 2026-11-22 16:00).
        line = run([a.cli, "retrieval-eval", "--model", a.model, "--data", data, "--json",
                    "--max-examples", count, "--max-tokens", "96"])
        r = json.loads(line)
        r["seconds"] = round(time.time() - t0, 1)
        r["data"] = os.path.relpath(data, a.corpus)
        res[name] = r
        print("retrieval %-5s %d/%d right (%.0f%%), %.0f s" % (
            name, r["right"], r["examples"], 100 * r["accuracy"], r["seconds"]), flush=True)
    return res


def answers(a):
    with open(os.path.join(a.model, "prompt.json")) as f:
        fmt = json.load(f)
    rows = []
    for rel, question, truth in QUESTIONS:
        doc = document_text(rel)
        if doc is None:
            rows.append({"document": rel, "question": question, "answer": None, "why": "pdftotext missing"})
            continue
        prompt = doc.rstrip("\n") + fmt["document_end"] + fmt["question"].replace("{question}", question)
        cmd = [a.cli, "generate", "--model", a.model, "--prompt", prompt, "--greedy",
               "--max-tokens", "48", "--quiet"]
        for s in fmt["stop"]:
            cmd += ["--stop", s]
        ans = run(cmd).rstrip("\n")
        rows.append({"document": rel, "question": question, "answer": ans, "document_says": truth})
        print("Q (%s): %s\nA: %r   [document: %s]" % (rel, question, ans, truth), flush=True)
    return rows


def decode_speed(a):
    # The fastest of 3 runs each, 1 and N tokens: the difference is N - 1 tokens of decode
    # (start-up and the model load cancel); the minimum keeps a busy machine's stalls out.
    def best(n):
        times = []
        for _ in range(3):
            t0 = time.time()
            run([a.cli, "generate", "--model", a.model, "--prompt", "The", "--max-tokens", str(n),
                 "--greedy", "--quiet"])
            times.append(time.time() - t0)
        return min(times)
    n = 2048
    t1, tn = best(1), best(n)
    tps = (n - 1) / max(1e-3, tn - t1)
    print("decode: %.0f tokens/s (greedy, %d tokens, start-up subtracted)" % (tps, n), flush=True)
    return {"tokens_per_s": round(tps), "tokens": n, "threads": os.environ.get("OMP_NUM_THREADS", "all cores")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", default=os.path.join(ROOT, "resources/models/default"))
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bytes", type=int, default=131072, help="validation bytes per kind")
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--examples", default=DEFAULT_EXAMPLES, help="retrieval examples per length")
    ap.add_argument("--skip", default="", help="comma list of: bpb,retrieval,answers,speed")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    skip = set(filter(None, a.skip.split(",")))
    m = {"model": os.path.relpath(os.path.abspath(a.model), ROOT), "date": time.strftime("%Y-%m-%d"),
         "command": " ".join(sys.argv)}
    if "bpb" not in skip:
        m["bits_per_byte"] = bits_per_byte(a, a.out)
    if "speed" not in skip:
        m["decode"] = decode_speed(a)
    if "answers" not in skip:
        m["sample_answers"] = answers(a)
    if "retrieval" not in skip:
        m["retrieval"] = retrieval(a)
    with open(os.path.join(a.out, "metrics.json"), "w") as f:
        json.dump(m, f, indent=1, ensure_ascii=False)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
