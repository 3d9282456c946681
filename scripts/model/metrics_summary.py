#!/usr/bin/env python3
"""One line per trainer metrics file (lectern-cli train's metrics.jsonl): its last step, the
last tokens/s and about ten validation losses spread over the run (the device returns only a
log's tail, so the *_on_device.sh scripts end with this).

    python3 scripts/model/metrics_summary.py RUN/metrics.jsonl...
"""
import json
import sys


def main():
    for m in sys.argv[1:]:
        try:
            with open(m) as f:
                rows = [json.loads(line) for line in f if line.strip()]
        except OSError as e:
            print("%s: %s" % (m, e.strerror))
            continue
        vals = [r for r in rows if "val_loss" in r]
        tps = [r["tokens_per_s"] for r in rows if "tokens_per_s" in r]
        picks = vals[:: max(1, len(vals) // 8)] + vals[-2:]
        print(m.split("/")[-1], "steps", rows[-1]["step"] if rows else 0,
              "tokens/s %.0f" % (tps[-1] if tps else 0),
              "val", " ".join("%d:%.3f" % (r["step"], r["val_loss"]) for r in picks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
