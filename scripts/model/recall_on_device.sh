#!/usr/bin/env bash
# Fine-tunes the bundled model to answer from the document (issue 6), on the GPU machine:
# two stages of `lectern-cli train --device cuda` from resources/models/default, each on the
# corpus text plus make_recall.py's dense multi-query examples, short then long (a
# curriculum): stage A 2,048-token windows on recall-2k (contexts 150..1,600 bytes), stage
# B 8,192-token windows on recall-8k (contexts 800..7,000 bytes), both starting from the
# previous weights with a fresh AdamW and a warm-up + cosine schedule fitted to the stage's
# seconds (stage A's steps from the H100's measured ~100k tokens/s at 32 x 2,048; stage B's
# from stage A's own tokens/s). A stage cut by its time limit falls back to its latest
# checkpoint.
#
#   here:  scripts/model/pack_device_carry.sh BUILD_DIR CORPUS CARRY   # CORPUS without recall
#          xz -c CORPUS/train/recall-2k.txt > CARRY/corpus/recall-2k.txt.xz   # and 8k
#   there: A_SECONDS=200 B_SECONDS=220 bash scripts/model/recall_on_device.sh CARRY OUTDIR
#
# Environment: DEVICE (cuda, or cpu for a smoke test here), A_SECONDS, B_SECONDS (0: stage A
# alone), A_FILES, B_FILES (the make_recall.py files of each stage, e.g. "recall-2k.txt
# copy-2k.txt"), A_OPTS, B_OPTS (the options of each stage), BASE (the
# starting model folder, default resources/models/default). OUTDIR gets model-A.safetensors,
# model-B.safetensors, metrics-A.jsonl, metrics-B.jsonl and train.log.
set -u
CARRY=$1 OUTDIR=$2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BASE=${BASE:-$ROOT/resources/models/default}
mkdir -p "$OUTDIR"
. "$ROOT/scripts/model/unpack_carry.sh" # unpack_carry
. "$ROOT/scripts/model/train_stage.sh"  # stage, steps_for, log
unpack_carry "$CARRY"
TEXT="$CORPUS/train/code.txt $CORPUS/train/prose.txt $CORPUS/train/legal.txt"
A_OPTS=${A_OPTS:---seq-len 2048 --batch 32 --lr 2e-3 --warmup 30 --clip 1.0 --eval-every 50 --checkpoint-every 50 --seed 21}
B_OPTS=${B_OPTS:---seq-len 8192 --batch 8 --lr 1.5e-3 --warmup 20 --clip 1.0 --eval-every 50 --checkpoint-every 25 --seed 22}

recall_files() { for f in $1; do echo "$CORPUS/train/$f"; done; }

A_SECONDS=${A_SECONDS:-200} B_SECONDS=${B_SECONDS:-220}
stage A "$BASE" $((A_SECONDS + 30)) "$(steps_for "$A_SECONDS")" "$TEXT $(recall_files "${A_FILES:-recall-2k.txt}")" "$A_OPTS"
if [ "${B_SECONDS}" -le 0 ]; then  # stage A alone: its weights are the result
  rm -rf /tmp/m-B && cp -r /tmp/m-A /tmp/m-B
else
stage B /tmp/m-A $((B_SECONDS + 30)) "$(steps_for "$B_SECONDS" /tmp/r-A)" "$TEXT $(recall_files "${B_FILES:-recall-8k.txt}")" "$B_OPTS"
fi
for kind in code prose legal; do
  head -c 65536 $CORPUS/valid/$kind.txt > /tmp/r-valid-$kind.txt
  echo "B $kind $("$CLI" eval --model /tmp/m-B --text /tmp/r-valid-$kind.txt --seq-len 1024 2>&1 | grep -o '[0-9.]* bits/byte')" | tee -a "$OUTDIR/train.log"
done
ls -la "$OUTDIR"
