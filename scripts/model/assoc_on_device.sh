#!/usr/bin/env bash
# Issue 6, one GPU call: teach ASSOCIATIVE recall (a value looked up by its key, at varying
# distances and positions: what answering needs), not fixed-offset copying (the copy-first
# curriculum's plain lines taught that and it did not transfer, MODEL_CARD.md).
#   stage R: make_recall.py --assoc material (key=value pairs, then queries of earlier keys
#            answered by their values; half dense lines, half pairs as lines of real text),
#            ~55% of the bytes, + the head of recall-2k (the product's question format,
#            ~25%) + a slice of corpus text (~20%, so bits per byte survive);
#   stage S: from R, the whole corpus + recall-2k + fresh --assoc material (~17%).
# Each stage: a fresh AdamW, warm-up + cosine fitted to the stage's seconds (R's steps from
# an 8-step calibration run, S's from R's measured rate); a stage cut by its time limit
# falls back to its latest checkpoint. Then evaluate_stages S R (evaluate_on_device.sh).
#
#   here:  CARRY of pack_recall_carry.sh (recall-2k.txt.xz, retrieval-16k.jsonl.xz in
#          CARRY/corpus), plus CARRY/base (the starting model folder)
#   there: R_SECONDS=150 S_SECONDS=150 bash scripts/model/assoc_on_device.sh CARRY OUTDIR
#
# OUTDIR gets model-R.safetensors, model-S.safetensors (+ config.json), metrics-*.jsonl,
# train.log and eval.log.
set -u
CARRY=$1 OUTDIR=$2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BASE=${BASE:-$CARRY/base}
mkdir -p "$OUTDIR"
. "$ROOT/scripts/model/unpack_carry.sh"       # unpack_carry
. "$ROOT/scripts/model/train_stage.sh"        # stage, steps_for
. "$ROOT/scripts/model/evaluate_on_device.sh" # evaluate_stages
unpack_carry "$CARRY"
T=$CORPUS/train
MR="python3 $ROOT/scripts/model/make_recall.py $CORPUS --assoc --min-context 150 --max-context 1600"
$MR --name R --max-facts 24 --bytes 16000000 --seed 51 > /dev/null &
$MR --name S --max-facts 24 --bytes 8000000 --seed 52 > /dev/null &
for k in code prose legal; do head -c 1500000 $T/$k.txt > $T/slice-$k.txt; done
head -c 7000000 $T/recall-2k.txt > $T/slice-recall.txt
wait
R_TEXT="$T/assoc-R.txt $T/slice-recall.txt $T/slice-code.txt $T/slice-prose.txt $T/slice-legal.txt"
S_TEXT="$T/code.txt $T/prose.txt $T/legal.txt $T/recall-2k.txt $T/assoc-S.txt"
R_OPTS=${R_OPTS:---seq-len 2048 --batch 32 --lr 2e-3 --warmup 30 --clip 1.0 --eval-every 50 --checkpoint-every 50 --seed 51}
S_OPTS=${S_OPTS:---seq-len 2048 --batch 32 --lr 1.5e-3 --warmup 20 --clip 1.0 --eval-every 50 --checkpoint-every 50 --seed 52}

# Calibration: 8 steps of R's material (this binary's rate, not the NOTES' figure).
CAL_OPTS=$(echo "$R_OPTS" | sed -E 's/--(eval|checkpoint)-every +[0-9]+//g')
# shellcheck disable=SC2086
"$CLI" train --device "${DEVICE:-cuda}" --base "$BASE" --text $R_TEXT --out /tmp/r-cal \
  --steps 8 $CAL_OPTS --eval-every 0 --checkpoint-every 0 > /tmp/r-cal.log 2>&1 || tail -5 /tmp/r-cal.log
echo "calibration: $(tail -1 /tmp/r-cal/metrics.jsonl)" | tee -a "$OUTDIR/train.log"
R_SECONDS=${R_SECONDS:-150} S_SECONDS=${S_SECONDS:-150}
stage R "$BASE" $((R_SECONDS + 15)) "$(steps_for "$R_SECONDS" /tmp/r-cal)" "$R_TEXT" "$R_OPTS"
stage S /tmp/m-R $((S_SECONDS + 15)) "$(steps_for "$S_SECONDS" /tmp/r-R)" "$S_TEXT" "$S_OPTS"

evaluate_stages S R
ls -la "$OUTDIR"
