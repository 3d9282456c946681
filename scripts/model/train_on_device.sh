#!/usr/bin/env bash
# Trains the bundled model with `lectern-cli train` on a machine's CPU cores, in pieces of
# at most SECONDS each (the GPU machine's 16 cores, one call of at most 10 minutes at a
# time), resuming from the checkpoint the previous piece brought back. The CUDA backward
# does not exist yet, so the GPU itself is not used.
#
#   here:  scripts/model/pack_device_carry.sh CORPUS        # fills .h5carry/
#   there: bash scripts/model/train_on_device.sh .h5carry OUTDIR SECONDS STEPS
#
# CARRY/resume/ckpt.tar.part-* (a previous piece's OUTDIR files) is resumed when present.
# OUTDIR gets the latest checkpoint as ckpt.tar split into 15 MiB parts, metrics.jsonl and
# the log. The training configuration is training/configs/default_model.json plus the
# options below (also recorded in every checkpoint's trainer_state.json).
set -u
CARRY=$1 OUTDIR=$2 SECONDS_LEFT=$3 STEPS=$4
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LIB=/tmp/h5lib RUN=/tmp/h5run CORPUS=/tmp/h5corpus
mkdir -p $LIB $RUN $CORPUS "$OUTDIR"
cp "$CARRY"/lib/*.so* $LIB/ 2>/dev/null
for f in "$CARRY"/lib/*.xz; do xz -dc "$f" > "$LIB/$(basename "$f" .xz)"; done
export LD_LIBRARY_PATH=$LIB OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
CLI="$CARRY/bin/lectern-cli"
tar -C $CORPUS -xzf "$CARRY/corpus/train.tar.gz"
TEXTS="$CORPUS/train/code.txt $CORPUS/train/prose.txt $CORPUS/train/legal.txt $CORPUS/train/retrieval.txt"
OPTS="--seq-len 1024 --batch 8 --lr 3e-3 --warmup 30 --clip 1.0 --eval-every 50 --checkpoint-every 10 --seed 6"
if ls "$CARRY"/resume/ckpt.tar.part-* > /dev/null 2>&1; then
  cat "$CARRY"/resume/ckpt.tar.part-* | tar -C $RUN -xf -
  cp "$CARRY"/resume/metrics.jsonl $RUN/ 2>/dev/null
  timeout "$SECONDS_LEFT" "$CLI" train --resume $RUN --out $RUN --steps "$STEPS" --text $TEXTS \
    2>&1 | tr '\r' '\n' | grep -v '^$' | awk 'NR % 5 == 1' > "$OUTDIR/train.log"
else
  timeout "$SECONDS_LEFT" "$CLI" train --config "$ROOT/training/configs/default_model.json" \
    --text $TEXTS --out $RUN --steps "$STEPS" $OPTS \
    2>&1 | tr '\r' '\n' | grep -v '^$' | awk 'NR % 5 == 1' > "$OUTDIR/train.log"
fi
tail -3 "$OUTDIR/train.log"
LATEST=$(cat $RUN/latest 2>/dev/null)
echo "latest checkpoint: $LATEST"
cp $RUN/metrics.jsonl "$OUTDIR/" 2>/dev/null
[ -n "$LATEST" ] && tar -C $RUN -cf - latest "$(basename "$LATEST")" | split -b 15M - "$OUTDIR/ckpt.tar.part-"
ls -la "$OUTDIR"
