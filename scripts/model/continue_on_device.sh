#!/usr/bin/env bash
# Continues training the bundled model (resources/models/default) on a machine's CPU cores
# for at most TRAIN_SECONDS, then evaluates the result there: validation bits/byte (the
# first 65,536 bytes of each kind, window 1,024, exactly as scripts/model/evaluate.py) for
# the new AND the bundled weights with the same binary, decode speed, and retrieval at 1k.
# Everything heavy runs there so the small build machine stays free.
#
#   here:  scripts/model/pack_device_carry.sh BUILD_DIR CORPUS    # fills .h5carry/
#   there: bash scripts/model/continue_on_device.sh .h5carry OUTDIR TRAIN_SECONDS STEPS
#
# OUTDIR gets model.safetensors (the final weights, or the latest checkpoint's when the time
# ran out first), metrics.jsonl, train.log and eval.txt. The learning-rate schedule is a
# fresh warm-up and cosine over STEPS: the earlier run's optimizer moments were not kept.
set -u
CARRY=$1 OUTDIR=$2 TRAIN_SECONDS=$3 STEPS=$4
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LIB=/tmp/h9lib RUN=/tmp/h9run CORPUS=/tmp/h9corpus NEW=/tmp/h9model
mkdir -p $LIB $RUN $CORPUS "$OUTDIR"
cp "$CARRY"/lib/*.so* $LIB/ 2> /dev/null
for f in "$CARRY"/lib/*.xz; do xz -dc "$f" > "$LIB/$(basename "$f" .xz)"; done
export LD_LIBRARY_PATH=$LIB OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
CLI="$CARRY/bin/lectern-cli" BASE="$ROOT/resources/models/default"
tar -C $CORPUS -xzf "$CARRY/corpus/train.tar.gz"
TEXTS="$CORPUS/train/code.txt $CORPUS/train/prose.txt $CORPUS/train/legal.txt $CORPUS/train/retrieval.txt"
T0=$(date +%s)
timeout "$TRAIN_SECONDS" "$CLI" train --base "$BASE" --text $TEXTS --out $RUN --steps "$STEPS" \
  --seq-len 1024 --batch 8 --lr ${LR:-1.5e-3} --warmup 5 --clip 1.0 --eval-every 20 \
  --checkpoint-every 5 --seed 9 2>&1 | tr '\r' '\n' | grep -v '^$' | awk 'NR % 5 == 1' > "$OUTDIR/train.log"
echo "trained for $(($(date +%s) - T0)) s" | tee -a "$OUTDIR/train.log"
tail -3 "$OUTDIR/train.log"
cp $RUN/metrics.jsonl "$OUTDIR/" 2> /dev/null
# The new model folder: the bundled one's tokenizer, prompt and config, the new weights.
mkdir -p $NEW && cp "$BASE"/*.json $NEW/
if [ -f $RUN/model.safetensors ]; then W=$RUN/model.safetensors; else W=$RUN/$(cat $RUN/latest)/model.safetensors; fi
echo "weights: $W" | tee -a "$OUTDIR/train.log"
cp "$W" $NEW/model.safetensors && cp "$W" "$OUTDIR/model.safetensors"
bpb() { # MODEL: bits/byte per kind, as evaluate.py measures it
  for kind in code prose legal; do
    head -c 65536 $CORPUS/valid/$kind.txt > /tmp/h9-valid-$kind.txt
    echo "$kind $("$CLI" eval --model "$1" --text /tmp/h9-valid-$kind.txt --seq-len 1024 2>&1 | grep -o '[0-9.]* bits/byte')"
  done
}
{
  echo "== new weights ($W)"; bpb $NEW
  echo "== bundled weights"; bpb "$BASE"
  if command -v python3 > /dev/null; then
    timeout 150 python3 "$ROOT/scripts/model/evaluate.py" --cli "$CLI" --model $NEW --corpus $CORPUS \
      --out "$OUTDIR/eval-new" --skip bpb,answers --examples 1k=50
  fi
} 2>&1 | tee "$OUTDIR/eval.txt"
ls -la "$OUTDIR"
