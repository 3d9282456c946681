#!/usr/bin/env python3
"""Joins the trainer's metrics lines of a model's stages into one train_log.jsonl.

Each stage ran as its own `lectern-cli train` and wrote its own metrics file, numbering its
steps from 1; the bundled train_log.jsonl numbers steps across the whole lineage and tags
each line with the stage it belongs to, so that the card's table and the log agree.

    python3 scripts/model/join_train_logs.py [--every N] [--base JOINED.jsonl] OUT.jsonl NAME=metrics.jsonl ...

Stages are given oldest first; NAME becomes `stage_name`, its position (1, 2, ...) `stage`.
--every N keeps a stage's first and last lines, every line with a validation loss and every
N-th step, and drops the rest (the bundle ships the curve, not ~47,000 lines of it); the
global `step` still counts every step. --base continues a log joined before (whose stages'
own metrics files may be gone): its lines are copied as they are, and the stages given here
follow its last stage and its last global step.
"""
import argparse
import json


def read_stage(path):
    with open(path, encoding="utf-8") as f:
        recs = []
        for line_no, line in enumerate(f, start=1):
            try:
                recs.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise SystemExit("%s:%d: not a JSON line (%s)" % (path, line_no, e))
    return recs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--every", type=int, default=1, help="keep every N-th step (see above)")
    ap.add_argument("--base", help="a train_log.jsonl joined before, continued here")
    ap.add_argument("out")
    ap.add_argument("stages", nargs="+", metavar="NAME=metrics.jsonl")
    a = ap.parse_args()
    if a.every < 1 or any("=" not in s for s in a.stages):
        ap.error("need --every >= 1 and NAME=metrics.jsonl for every stage")
    base = read_stage(a.base) if a.base else []
    step, first = (base[-1]["step"], base[-1]["stage"] + 1) if base else (0, 1)
    with open(a.out, "w", encoding="utf-8") as out:
        out.writelines(json.dumps(rec, separators=(",", ":")) + "\n" for rec in base)
        for number, arg in enumerate(a.stages, start=first):
            name, path = arg.split("=", 1)
            recs = read_stage(path)
            for i, rec in enumerate(recs):
                step += 1
                rec["stage_step"] = rec.get("step", i + 1)
                keep = (i in (0, len(recs) - 1) or "val_loss" in rec
                        or rec["stage_step"] % a.every == 0)
                if keep:
                    rec.update(step=step, stage=number, stage_name=name)
                    out.write(json.dumps(rec, separators=(",", ":")) + "\n")
            print("stage %d %-8s %s: up to step %d" % (number, name, path, step))


if __name__ == "__main__":
    main()
