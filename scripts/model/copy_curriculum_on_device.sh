#!/usr/bin/env bash
# Issue 6, one GPU call: a curriculum that first teaches the model to COPY, then to answer.
#   stage P: plain copy lines (make_recall.py --copy --simple, ~80% of the bytes) + a slice
#            of corpus text (~20%, so bits per byte survive), 2,048-token windows;
#   stage Q: from P, the whole corpus + recall-2k (~50%) + fresh plain copy lines (~13%).
# Each stage: a fresh AdamW, warm-up + cosine fitted to the stage's seconds (steps from
# ~100k tokens/s at 32 x 2,048, Q's from P's measured rate); a stage cut by its time limit
# falls back to its latest checkpoint. Then, on the GPU machine's CPU cores, in parallel:
# validation bits per byte (first 64 KiB of each kind, windows of 1,024), retrieval at 1k,
# 4k and 16k, and copy_probe.py on P and Q.
#
#   here:  CARRY as for recall_on_device.sh (scripts/model/pack_recall_carry.sh), plus
#          CARRY/base-C (the starting model folder) and CARRY/corpus/retrieval-16k.jsonl.xz
#   there: P_SECONDS=140 Q_SECONDS=290 bash scripts/model/copy_curriculum_on_device.sh CARRY OUTDIR
#
# OUTDIR gets model-P.safetensors, model-Q.safetensors (+ config.json), metrics-*.jsonl,
# train.log and eval.log.
set -u
CARRY=$1 OUTDIR=$2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BASE=${BASE:-$CARRY/base-C}
mkdir -p "$OUTDIR"
. "$ROOT/scripts/model/unpack_carry.sh"       # unpack_carry
. "$ROOT/scripts/model/train_stage.sh"        # stage, steps_for
. "$ROOT/scripts/model/evaluate_on_device.sh" # evaluate_stages
unpack_carry "$CARRY"
MR="python3 $ROOT/scripts/model/make_recall.py $CORPUS --copy --simple"
$MR --name P --bytes 14400000 --seed 31 > /dev/null &
$MR --name Q --bytes 6000000 --seed 32 > /dev/null &
for k in code prose legal; do head -c 1200000 $CORPUS/train/$k.txt > $CORPUS/train/slice-$k.txt; done
wait
T=$CORPUS/train
P_TEXT="$T/copy-P.txt $T/slice-code.txt $T/slice-prose.txt $T/slice-legal.txt"
Q_TEXT="$T/code.txt $T/prose.txt $T/legal.txt $T/recall-2k.txt $T/copy-Q.txt"
P_OPTS=${P_OPTS:---seq-len 2048 --batch 32 --lr 2e-3 --warmup 30 --clip 1.0 --eval-every 50 --checkpoint-every 50 --seed 31}
Q_OPTS=${Q_OPTS:---seq-len 2048 --batch 32 --lr 1.5e-3 --warmup 20 --clip 1.0 --eval-every 50 --checkpoint-every 50 --seed 32}

P_SECONDS=${P_SECONDS:-140} Q_SECONDS=${Q_SECONDS:-290}
stage P "$BASE" $((P_SECONDS + 15)) "$(steps_for "$P_SECONDS")" "$P_TEXT" "$P_OPTS"
stage Q /tmp/m-P $((Q_SECONDS + 15)) "$(steps_for "$Q_SECONDS" /tmp/r-P)" "$Q_TEXT" "$Q_OPTS"

evaluate_stages Q P
ls -la "$OUTDIR"
