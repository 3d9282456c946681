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
LIB=/tmp/rlib CORPUS=/tmp/rcorpus
mkdir -p $LIB $CORPUS "$OUTDIR"
cp "$CARRY"/lib/*.so* $LIB/ 2> /dev/null
for f in "$CARRY"/lib/*.xz; do xz -dc "$f" > "$LIB/$(basename "$f" .xz)" & done
tar -C $CORPUS -xzf "$CARRY/corpus/train.tar.gz"
xz -dc "$CARRY/corpus/recall-2k.txt.xz" > $CORPUS/train/recall-2k.txt &
xz -dc "$CARRY/corpus/retrieval-16k.jsonl.xz" > $CORPUS/valid/retrieval-16k.jsonl &
CLI="$CARRY/bin/lectern-cli"
if [ -f "$CLI.xz" ]; then xz -dc "$CLI.xz" > /tmp/lectern-cli && chmod +x /tmp/lectern-cli && CLI=/tmp/lectern-cli & fi
MR="python3 $ROOT/scripts/model/make_recall.py $CORPUS --copy --simple"
$MR --name P --bytes 14400000 --seed 31 > /dev/null &
$MR --name Q --bytes 6000000 --seed 32 > /dev/null &
for k in code prose legal; do head -c 1200000 $CORPUS/train/$k.txt > $CORPUS/train/slice-$k.txt; done
wait
[ -x /tmp/lectern-cli ] && CLI=/tmp/lectern-cli
export LD_LIBRARY_PATH=$LIB OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
T=$CORPUS/train
P_TEXT="$T/copy-P.txt $T/slice-code.txt $T/slice-prose.txt $T/slice-legal.txt"
Q_TEXT="$T/code.txt $T/prose.txt $T/legal.txt $T/recall-2k.txt $T/copy-Q.txt"
P_OPTS=${P_OPTS:---seq-len 2048 --batch 32 --lr 2e-3 --warmup 30 --clip 1.0 --eval-every 50 --checkpoint-every 50 --seed 31}
Q_OPTS=${Q_OPTS:---seq-len 2048 --batch 32 --lr 1.5e-3 --warmup 20 --clip 1.0 --eval-every 50 --checkpoint-every 50 --seed 32}

. "$ROOT/scripts/model/train_stage.sh"  # stage() and log()

P_SECONDS=${P_SECONDS:-140} Q_SECONDS=${Q_SECONDS:-290}
# 0.9 and the 12 s leave room for start-up and the validations.
P_STEPS=$(python3 -c "print(int(($P_SECONDS - 12) * 0.9 * 100000 / 65536))")
stage P "$BASE" $((P_SECONDS + 15)) "$P_STEPS" "$P_TEXT" "$P_OPTS"
Q_STEPS=$(python3 -c "
import json
rows = [json.loads(l) for l in open('/tmp/r-P/metrics.jsonl') if '\"tokens_per_s\"' in l]
tps = rows[-1]['tokens_per_s'] if rows else 90000
print(max(1, int(($Q_SECONDS - 12) * 0.9 * tps / 65536)))")
stage Q /tmp/m-P $((Q_SECONDS + 15)) "$Q_STEPS" "$Q_TEXT" "$Q_OPTS"

# Evaluations, one CPU thread each, all at once (16 cores); split retrieval sets run as parts.
export OMP_NUM_THREADS=1
E=/tmp/reval
mkdir -p $E
V=$CORPUS/valid
part() {  # part NAME FILE FIRST COUNT MODEL
  sed -n "$(($3 + 1)),$(($3 + $4))p" "$2" > $E/$1.jsonl
  timeout ${EVAL_TIMEOUT:-150} "$CLI" retrieval-eval --model "$5" --data $E/$1.jsonl --json --max-tokens 96 > $E/$1.out 2>&1
}
for kind in code prose legal; do
  head -c 65536 $V/$kind.txt > $E/valid-$kind.txt
  (echo "Q $kind $(timeout ${EVAL_TIMEOUT:-150} "$CLI" eval --model /tmp/m-Q --text $E/valid-$kind.txt --seq-len 1024 2>&1 | grep -o '[0-9.]* bits/byte')" > $E/bpb-$kind.out) &
done
part Q1k-a $V/retrieval-1k.jsonl 0 20 /tmp/m-Q &
part Q1k-b $V/retrieval-1k.jsonl 20 20 /tmp/m-Q &
part Q1k-c $V/retrieval-1k.jsonl 40 20 /tmp/m-Q &
part Q4k-a $V/retrieval-4k.jsonl 0 10 /tmp/m-Q &
part Q4k-b $V/retrieval-4k.jsonl 10 10 /tmp/m-Q &
part Q16k-a $V/retrieval-16k.jsonl 0 3 /tmp/m-Q &
part Q16k-b $V/retrieval-16k.jsonl 3 3 /tmp/m-Q &
part P1k-a $V/retrieval-1k.jsonl 0 20 /tmp/m-P &
for m in P Q; do
  timeout ${EVAL_TIMEOUT:-150} python3 "$ROOT/scripts/model/copy_probe.py" --cli "$CLI" --model /tmp/m-$m --n 20 > $E/probe-$m.out 2>&1 &
done
wait
for f in $E/*.out; do echo "== $(basename "$f" .out)"; cat "$f"; done | tee "$OUTDIR/eval.log"
ls -la "$OUTDIR"
