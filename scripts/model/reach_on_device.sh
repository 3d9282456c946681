#!/usr/bin/env bash
# Issue 6, reach (MODEL_CARD.md, "Reach with windows that start at an example", helper M11):
# one GPU call, lanes from START (default the bundled weights, m11fix) side by side, each
# trained on the corpus with legal x3 (~70% of the bytes), make_retrieval.py's short one-fact
# examples (~9%) and long ones (~21%: 1k-16k bytes of training text, one fact, or two with
# odds 1/4, at a uniform depth, the question at the end, each example ending with byte 30),
# peak lr 1e-3, wsd; LANES picks them (default "m12align m12rand m12curr"):
#   m12align  windows of 16,384 x 2 that start at an example's start (--window-start-after
#             30): every long example is trained whole, its fact and its question together;
#   m12rand   the same without the option: windows at random offsets (the control: a
#             question keeps its fact with odds ~1 - d/W, and half the windows cut an example);
#   m12curr   a distance curriculum: first long examples of 1k-3.9k bytes in windows of
#             4,096 x 8 (CURR_A_STEPS), then m12align's stage from there (CURR_B_STEPS).
# Then, for START and every lane, on the CPU cores: bits per byte of the first 64 KiB of each
# kind's held-out text and of CARRY/clean/<kind>.txt (clean_valid.py), and retrieval on the
# held-out sets, 1k (first N1K), 4k (N4K), 16k (N16K), 64k (N64K), one line per example.
#
#   there: TRAIN_END=330 bash scripts/model/reach_on_device.sh CARRY OUTDIR
#   here (smoke): DEVICE=cpu ALIGN_STEPS=1 CURR_A_STEPS=1 CURR_B_STEPS=1 SEQ=2048 SEQ_A=1024 \
#     N1K=2 N4K=1 N16K=1 N64K=0 TRAIN_END=200 bash scripts/model/reach_on_device.sh CARRY OUT
#
# OUTDIR gets model-LANE.safetensors, eval.log, summary.txt and reach.tar.gz (logs, metrics).
set -u
CARRY=$(cd "$1" && pwd) OUTDIR=$(mkdir -p "$2" && cd "$2" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=/tmp/reach E=/tmp/reach/eval
rm -rf $W && mkdir -p $W $E
. "$ROOT/scripts/model/unpack_carry.sh" # unpack_carry
. "$ROOT/scripts/model/train_stage.sh"  # stage
unpack_carry "$CARRY"
T=$CORPUS/train V=$CORPUS/valid
START=${START:-$ROOT/resources/models/default}
LANES=${LANES:-m12align m12rand m12curr}
N1K=${N1K:-100} N4K=${N4K:-40} N16K=${N16K:-20} N64K=${N64K:-4}
SEQ=${SEQ:-16384} SEQ_A=${SEQ_A:-4096}
echo "start $(date -u +%T) lanes $LANES from $START"

# evaluate NAME MODEL_DIR: the evaluations above, one thread a job, all at once; waits for them.
evaluate() {
  local name=$1 m=$2 k i n
  for k in code prose legal; do
    head -c 65536 "$V/$k.txt" > $E/valid-$name-$k.txt
    (echo "$name $k $(timeout "$EVAL_TIMEOUT" "$CLI" eval --model "$m" --text $E/valid-$name-$k.txt \
      --seq-len 1024 2>&1 | grep -o '[0-9.]* bits/byte')" > $E/bpb-$name-$k.out) &
    [ -f "$CARRY/clean/$k.txt" ] || continue
    head -c 65536 "$CARRY/clean/$k.txt" > $E/clean-$name-$k.txt
    (echo "$name clean-$k $(timeout "$EVAL_TIMEOUT" "$CLI" eval --model "$m" --text $E/clean-$name-$k.txt \
      --seq-len 1024 2>&1 | grep -o '[0-9.]* bits/byte')" > $E/bpb-$name-clean-$k.out) &
  done
  # part LEN FIRST COUNT: retrieval-eval of COUNT examples of retrieval-LEN.jsonl from FIRST
  part() {
    [ "$3" -gt 0 ] || return 0
    sed -n "$(($2 + 1)),$(($2 + $3))p" $V/retrieval-$1.jsonl > $E/re-$name-$1-$2.jsonl
    timeout "$EVAL_TIMEOUT" "$CLI" retrieval-eval --model "$m" --data $E/re-$name-$1-$2.jsonl \
      --max-tokens 96 > $E/re-$name-$1-$2.out 2>&1 || echo "exit $? (124: cut by EVAL_TIMEOUT)" >> $E/re-$name-$1-$2.out
  }
  for ((i = 0; i < N1K; i += 20)); do n=$((N1K - i < 20 ? N1K - i : 20)) && part 1k $i $n & done
  for ((i = 0; i < N4K; i += 8)); do n=$((N4K - i < 8 ? N4K - i : 8)) && part 4k $i $n & done
  for ((i = 0; i < N16K; i += 2)); do n=$((N16K - i < 2 ? N16K - i : 2)) && part 16k $i $n & done
  for ((i = 0; i < N64K; i += 1)); do part 64k $i 1 & done
  wait
}

(
  [ "${SKIP_START:-0}" = 1 ] && exit 0
  renice -n 10 $BASHPID > /dev/null
  OMP_NUM_THREADS=1 EVAL_TIMEOUT=${EVAL_TIMEOUT_START:-300} evaluate start "$START"
  echo "start's evaluation done $(date -u +%T)"
) > $W/eval-start.log 2>&1 &
EVAL_START_PID=$!

MR="python3 $ROOT/scripts/model/make_retrieval.py $CORPUS --two-facts 0.25 --sep-byte 30"
P=() # (a bare wait would wait for the start's evaluation too)
$MR --long-out $T/long16.txt --long-bytes 7000000 --long-context 1000-$((SEQ - 384)) --seed 11 & P+=($!)
$MR --long-out $T/long4.txt --long-bytes 7000000 --long-context 1000-$((SEQ_A - 196)) --seed 12 & P+=($!)
wait "${P[@]}"
for i in 2 3; do cp $T/legal.txt $T/legal-w$i.txt; done # legal's weight x3 (as m11fix's)
echo "materials $(date -u +%T)"

export OMP_NUM_THREADS=2
O="--warmup 20 --schedule wsd --clip 1.0 --eval-every 100 --checkpoint-every 100 --lr 1e-3"
CORPUS3="$T/code.txt $T/prose.txt $T/legal.txt $T/legal-w2.txt $T/legal-w3.txt $T/retrieval.txt"
# lane NAME STEPS FILES OPTS FROM SECONDS: one stage, its log $W/train-NAME.log
lane() {
  OUTDIR=$W/out STAGE_LOG=$W/train-$1.log stage "$1" "$5" "$6" "$2" "$3" "$O $4" > /dev/null
}
on() { [[ " $LANES " == *" $1 "* ]]; }
mkdir -p $W/out
P=()
END=${TRAIN_END:-330}
on m12align && { lane m12align "${ALIGN_STEPS:-1200}" "$CORPUS3 $T/long16.txt" \
  "--seq-len $SEQ --batch 2 --seed 111 --window-start-after 30" "$START" $END & P+=($!); }
sleep 2
on m12rand && { lane m12rand "${ALIGN_STEPS:-1200}" "$CORPUS3 $T/long16.txt" \
  "--seq-len $SEQ --batch 2 --seed 111" "$START" $END & P+=($!); }
sleep 2
curr() {
  local t0=$SECONDS
  lane m12curr-a "${CURR_A_STEPS:-600}" "$CORPUS3 $T/long4.txt" \
    "--seq-len $SEQ_A --batch 8 --seed 112 --window-start-after 30" "$START" $((END / 2))
  lane m12curr "${CURR_B_STEPS:-600}" "$CORPUS3 $T/long16.txt" \
    "--seq-len $SEQ --batch 2 --seed 113 --window-start-after 30" /tmp/m-m12curr-a \
    $((END - SECONDS + t0))
}
on m12curr && { curr & P+=($!); }
wait "${P[@]}"
echo "trained $(date -u +%T)"
grep -h 'stage .*\(trained\|weights\)\|example starts' $W/train-*.log

export OMP_NUM_THREADS=1 EVAL_TIMEOUT=${EVAL_TIMEOUT:-150}
P=()
for l in $LANES; do [ -f /tmp/m-$l/model.safetensors ] && { evaluate $l /tmp/m-$l & P+=($!); }; done
wait "${P[@]}"
echo "lanes evaluated $(date -u +%T)"
wait $EVAL_START_PID
cat $W/eval-start.log

for f in $E/*.out; do echo "== $(basename "$f" .out)"; cat "$f"; done > "$OUTDIR/eval.log"
{
  cat $E/bpb-*.out
  for f in $E/re-*.out; do echo "$(basename "$f" .out): $(grep -c '^RIGHT' "$f") of $(grep -c '^\(RIGHT\|wrong\)' "$f") right $(grep -o 'exit.*' "$f")"; done
  # shellcheck disable=SC2046
  python3 "$ROOT/scripts/model/metrics_summary.py" $(for m in $LANES m12curr-a; do [ -f $W/out/metrics-$m.jsonl ] && echo $W/out/metrics-$m.jsonl; done)
} > "$OUTDIR/summary.txt"
cat "$OUTDIR/summary.txt"
cp $W/out/model-*.safetensors "$OUTDIR"/ 2> /dev/null
cp $W/out/metrics-*.jsonl $W/ 2> /dev/null
tar -C /tmp --exclude="*.safetensors" --exclude="long*.txt" -czf "$OUTDIR/reach.tar.gz" reach
echo "done $(date -u +%T)"
ls -la "$OUTDIR"
