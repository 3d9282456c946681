#!/usr/bin/env python3
"""Joins the trainer's metrics lines of a model's stages into one train_log.jsonl.

Each stage ran as its own `lectern-cli train` and wrote its own metrics file, numbering its
steps from 1; the bundled train_log.jsonl numbers steps across the whole lineage and tags
each line with the stage it belongs to, so that the card's table and the log agree.

    python3 scripts/model/join_train_logs.py OUT.jsonl NAME=metrics.jsonl [NAME=metrics.jsonl ...]

Stages are given oldest first; NAME becomes `stage_name`, its position (1, 2, ...) `stage`.
"""
import json
import sys


def main(argv):
    if len(argv) < 3 or any("=" not in a for a in argv[2:]):
        raise SystemExit(__doc__)
    step = 0
    with open(argv[1], "w", encoding="utf-8") as out:
        for number, arg in enumerate(argv[2:], start=1):
            name, path = arg.split("=", 1)
            with open(path, encoding="utf-8") as f:
                for line_no, line in enumerate(f, start=1):
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise SystemExit("%s:%d: not a JSON line (%s)" % (path, line_no, e))
                    step += 1
                    rec["stage_step"] = rec.get("step", line_no)
                    rec.update(step=step, stage=number, stage_name=name)
                    out.write(json.dumps(rec, separators=(",", ":")) + "\n")
            print("stage %d %-8s %s: up to step %d" % (number, name, path, step))


if __name__ == "__main__":
    main(sys.argv)
