#!/usr/bin/env bash
# Trains the bundled model with `lectern-cli train` on the GPU machine (--device cuda, the
# default) or on its CPU cores (DEVICE=cpu), for at most SECONDS of training, then
# evaluates the result there (validation bits/byte of the first 65,536 bytes of each kind,
# window 1,024, exactly as scripts/model/evaluate.py; retrieval at 1k and 4k).
#
#   here:  scripts/model/pack_device_carry.sh BUILD_DIR CORPUS CARRY   # fills CARRY/
#   there: bash scripts/model/train_on_device.sh CARRY OUTDIR SECONDS [CONFIG]
#
# The step count is fitted to SECONDS: a 5-step calibration run measures tokens/s, so that the
# warm-up + cosine schedule ends when the time does (a run cut by its time limit never
# decays its learning rate). Start: CARRY/resume/ckpt.tar.part-* (a previous call's OUTDIR)
# is resumed when present; else BASE=DIR fine-tunes that model folder (fresh AdamW); else
# CONFIG (default training/configs/default_model.json) from scratch. The options are
# training/configs/default_train.args (also recorded in every checkpoint's
# trainer_state.json), overridable with OPTS.
# Environment: DEVICE (cuda | cpu | "" for a binary without --device), BASE, OPTS,
# EXTRA_TEXTS (corpus files trained on once more, e.g. train/retrieval.txt),
# EVAL_SECONDS (default 150), KEEP_CKPT. OUTDIR gets model.safetensors, metrics.jsonl,
# train.log, eval.txt, eval-metrics.json and, with KEEP_CKPT=1, the latest checkpoint as
# ckpt.tar in 15 MiB parts (the device returns at most 8 files).
set -u
CARRY=$1 OUTDIR=$2 SECONDS_LEFT=$3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CONFIG=${4:-$ROOT/training/configs/default_model.json}
LIB=/tmp/flib RUN=/tmp/frun CORPUS=/tmp/fcorpus NEW=/tmp/fmodel CAL=/tmp/fcal
mkdir -p $LIB $RUN $CORPUS $NEW "$OUTDIR"
cp "$CARRY"/lib/*.so* $LIB/ 2> /dev/null
for f in "$CARRY"/lib/*.xz; do xz -dc "$f" > "$LIB/$(basename "$f" .xz)"; done
export LD_LIBRARY_PATH=$LIB OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
CLI="$CARRY/bin/lectern-cli"
DEVICE=${DEVICE-cuda}
DEV=${DEVICE:+--device $DEVICE}
tar -C $CORPUS -xzf "$CARRY/corpus/train.tar.gz"
TEXTS="$CORPUS/train/code.txt $CORPUS/train/prose.txt $CORPUS/train/legal.txt $CORPUS/train/retrieval.txt"
for t in ${EXTRA_TEXTS:-}; do TEXTS="$TEXTS $CORPUS/$t"; done  # e.g. train/retrieval.txt: twice its share
OPTS=${OPTS:-$(grep -v '^#' "$ROOT/training/configs/default_train.args" | tr '\n' ' ')}
log() { tr '\r' '\n' | grep -v '^$' | awk 'NR % 5 == 1'; }

if ls "$CARRY"/resume/ckpt.tar.part-* > /dev/null 2>&1; then
  cat "$CARRY"/resume/ckpt.tar.part-* | tar -C $RUN -xf -
  cp "$CARRY"/resume/metrics.jsonl $RUN/ 2> /dev/null
  START="--resume $RUN"
  STEPS=$(grep -o '"steps": *[0-9]*' $RUN/$(cat $RUN/latest)/trainer_state.json | grep -o '[0-9]*$')
else
  if [ -n "${BASE:-}" ]; then START="--base $BASE"; else START="--config $CONFIG"; fi
  # Calibration: 5 steps; their tokens/s (the trainer's metrics, measured from the loop's
  # start, so without process start or CUDA initialisation) sets --steps.
  T0=$(date +%s)
  CAL_OPTS=$(echo "$OPTS" | sed -E 's/--(eval|checkpoint)-every +[0-9]+//g')
  "$CLI" train $DEV $START --text $TEXTS --out $CAL --steps 5 $CAL_OPTS --eval-every 0 \
    --checkpoint-every 0 > /tmp/f-calibration.log 2>&1 || tail -5 /tmp/f-calibration.log
  SECONDS_LEFT=$((SECONDS_LEFT - ($(date +%s) - T0)))
  STEPS=$(python3 -c "
import json, re
last = [json.loads(l) for l in open('$CAL/metrics.jsonl') if l.strip()][-1]
b = int(re.search(r'--batch +([0-9]+)', '$OPTS').group(1)); L = int(re.search(r'--seq-len +([0-9]+)', '$OPTS').group(1))
print(max(5, int(($SECONDS_LEFT - 25) * 0.93 * last['tokens_per_s'] / (b * L))))")
  echo "calibration: $(tail -1 $CAL/metrics.jsonl) -> --steps $STEPS in $SECONDS_LEFT s" | tee "$OUTDIR/train.log"
fi
T0=$(date +%s)
# shellcheck disable=SC2086
timeout "$SECONDS_LEFT" "$CLI" train $DEV $START --text $TEXTS --out $RUN --steps "$STEPS" \
  $( [ "${START%% *}" = "--resume" ] || echo "$OPTS") 2>&1 | log >> "$OUTDIR/train.log"
echo "trained for $(($(date +%s) - T0)) s, device '${DEVICE}', OMP_NUM_THREADS=$OMP_NUM_THREADS" | tee -a "$OUTDIR/train.log"
tail -3 "$OUTDIR/train.log"
cp $RUN/metrics.jsonl "$OUTDIR/" 2> /dev/null
LATEST=$(cat $RUN/latest 2> /dev/null)
echo "latest checkpoint: $LATEST"
[ -n "$LATEST" ] && [ -n "${KEEP_CKPT:-}" ] && tar -C $RUN -cf - latest "$(basename "$LATEST")" | split -b 15M - "$OUTDIR/ckpt.tar.part-"

# The new model folder: the bundled tokenizer and prompt, the trained config and weights.
cp "$ROOT"/resources/models/default/{tokenizer,prompt}.json $NEW/
if [ -f $RUN/model.safetensors ]; then D=$RUN; else D=$RUN/$LATEST; fi
cp "$D/config.json" "$D/model.safetensors" $NEW/ && cp "$D/model.safetensors" "$OUTDIR/"
{
  echo "== weights of $D"
  for kind in code prose legal; do
    head -c 65536 $CORPUS/valid/$kind.txt > /tmp/f-valid-$kind.txt
    echo "$kind $("$CLI" eval --model $NEW --text /tmp/f-valid-$kind.txt --seq-len 1024 2>&1 | grep -o '[0-9.]* bits/byte')"
  done
  timeout "${EVAL_SECONDS:-150}" python3 "$ROOT/scripts/model/evaluate.py" --cli "$CLI" --model $NEW \
    --corpus $CORPUS --out /tmp/f-eval --skip bpb,answers --examples 1k=50,4k=10
  cp /tmp/f-eval/metrics.json "$OUTDIR/eval-metrics.json" 2> /dev/null
} 2>&1 | tee "$OUTDIR/eval.txt"
ls -la "$OUTDIR"
