#!/usr/bin/env bash
# CPU training throughput of `lectern-cli train` against the thread count (issue 5): the
# bundled model's architecture, batch 16 rows of 256 tokens, 3 steps from scratch, no
# validation or checkpoints; prints threads, wall s, CPU s (user + sys) and tokens/s.
# Rows run on parallel threads (training/model_train.cpp), so up to 16 threads can help.
#
#   scripts/model/thread_scaling.sh CLI "1 2 4 8 16" [TEXT]
set -u
CLI=$1 COUNTS=$2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TEXT=${3:-/tmp/f-scaling-text.txt}
[ -f "$TEXT" ] || cat "$ROOT"/README.md "$ROOT"/NOTES-*.md "$ROOT"/training/NOTES-*.md > "$TEXT"
B=16 L=256 S=3
echo "threads wall_s cpu_s tokens_per_s tokens_per_cpu_s (batch $B, seq-len $L, $S steps)"
for n in $COUNTS; do
  rm -rf /tmp/f-scaling-out
  TIMEFORMAT="%R %U %S"
  { time env OMP_NUM_THREADS=$n OPENBLAS_NUM_THREADS=$n "$CLI" train ${DEVICE:+--device $DEVICE} --config "$ROOT/training/configs/default_model.json" \
    --text "$TEXT" --out /tmp/f-scaling-out --steps $S --seq-len $L --batch $B --eval-every 0 \
    --checkpoint-every 0 > /dev/null 2>&1; } 2> /tmp/f-scaling-time
  read -r wall user sys < /tmp/f-scaling-time
  python3 -c "t=$B*$L*$S; w=$wall; c=$user+$sys; print($n, w, round(c, 2), round(t/w), round(t/c))"
done
