#!/usr/bin/env bash
# Issue 6, one GPU call (MODEL_CARD.md, "Questions back and reach from m7legal"): lanes from
# the bundled weights (START, default resources/models/default = m7legal), side by side, each
# one train_stage.sh stage (LANES picks them, default "m10ask m10dense m10reach"):
#   ask    a bundle candidate: the whole corpus with legal x3 (~62%) and the question material
#          back at ~30% (identifier questions in three layouts, #defines 1-4 KB back in text,
#          the task's facts asked, make_retrieval.py's one-fact examples) with the widened k=v
#          form (~8%), windows of 4,096: most examples then lie whole in a window (m7legal's
#          in-text #defines, 1-4 KB back, were trained in windows of 1,024, where most of their
#          questions had lost their fact: it learnt to guess a number);
#   dense  ask's mix with twice its question material (~45%; legal ~19%): the trade between
#          questions and compression, one step further;
#   reach  #defines 1-15 KB before their questions, uniformly (make_recall.py --back; ~34%), the
#          identifier questions, the k=v form and the corpus with legal x2 (~49%), windows of
#          32,768 (reach() below says why).
# The second call's lanes (MODEL_CARD.md: reach's 32,768 tokens a step drifted less from the
# start's bits per byte than ask's 4,096), 8 windows of 4,096 a step:
#   ask8   ask's mix and lr from START, 32,768 tokens a step;
#   fix    from CARRY/m10ask (ask's weights): the corpus with legal x3 (~79%), the task's facts
#          asked and make_retrieval.py's one-fact examples (~21%), peak lr 1e-3.
# CARRY/clean/<kind>.txt, where present, is evaluated too (bits per byte of its first 64 KiB):
# held-out text no corpus can have trained on (scripts/model/clean_valid.py).
# While the lanes train, the start's evaluation runs on the CPU cores; then each lane's. Each:
# bits per byte of the first 64 KiB of each kind's held-out text (windows 1,024, as
# evaluate.py), retrieval at 1k (first N1K examples), 4k (N4K), 16k (N16K), 64k (N64K), one
# line per example (answer, expected, depth), and wide_probe.py --ask (20 examples).
#
#   there: TRAIN_END=400 bash scripts/model/ask_reach_on_device.sh CARRY OUTDIR
#          LANES="m11ask8 m11fix" SKIP_START=1 N16K=0 N64K=0 TRAIN_END=150 bash ...  (second call)
#   here (smoke, 1 step): DEVICE=cpu ASK_STEPS=1 REACH_STEPS=1 REACH_SEQ=2048 N1K=2 N4K=1 \
#     N16K=1 N64K=1 TRAIN_END=300 bash scripts/model/ask_reach_on_device.sh CARRY OUTDIR
#
# OUTDIR gets model-LANE.safetensors, eval.log (every evaluation output), summary.txt and
# askreach.tar.gz (logs, metrics, materials' reports, evaluation outputs).
set -u
CARRY=$(cd "$1" && pwd) OUTDIR=$(mkdir -p "$2" && cd "$2" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=/tmp/askreach E=/tmp/askreach/eval
rm -rf $W && mkdir -p $W $E
. "$ROOT/scripts/model/unpack_carry.sh" # unpack_carry
. "$ROOT/scripts/model/train_stage.sh"  # stage
unpack_carry "$CARRY"
T=$CORPUS/train V=$CORPUS/valid
START=${START:-$ROOT/resources/models/default}
LANES=${LANES:-m10ask m10dense m10reach}
N1K=${N1K:-100} N4K=${N4K:-40} N16K=${N16K:-20} N64K=${N64K:-4}
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
  timeout "$EVAL_TIMEOUT" python3 "$ROOT/scripts/model/wide_probe.py" --cli "$CLI" --model "$m" \
    --n 20 --ask --ident-keys --value-len 4-5 --text $V/prose.txt > $E/wide-$name-ask.out 2>&1 &
  wait
}

# The start's evaluation, at low priority beside the training (its subshell's jobs inherit
# the niceness; every later wait names its jobs, so none waits for this one by accident).
(
  [ "${SKIP_START:-0}" = 1 ] && exit 0
  renice -n 10 $BASHPID > /dev/null
  OMP_NUM_THREADS=1 EVAL_TIMEOUT=${EVAL_TIMEOUT_START:-300} evaluate start "$START"
  echo "start's evaluation done $(date -u +%T)"
) > $W/eval-start.log 2>&1 &
EVAL_START_PID=$!

mk() { # mk NAME BYTES OPTIONS...: make_recall.py material, train/assoc-NAME.txt
  local name=$1 bytes=$2
  shift 2
  python3 "$ROOT/scripts/model/make_recall.py" "$CORPUS" --name "$name" --seed 87 --assoc \
    --bytes "$bytes" "$@" > $W/material-$name.log
}
P=()
mk ww 3000000 --plain --bind --sep = --key-len 1-4 --value-len 1-5 & P+=($!)
mk qi 8000000 --ask --ident-keys --value-len 4-5 & P+=($!)
mk qf 6000000 --ask --task-facts & P+=($!)
mk qd 4000000 --ask --ident-keys --in-text --value-len 4-5 --min-context 1000 --max-context 4000 & P+=($!)
[[ " $LANES " == *" m10reach "* ]] &&
  mk qb 14000000 --ask --ident-keys --in-text --value-len 4-5 --back 1000-15000 & P+=($!)
wait "${P[@]}"
for i in 2 3; do cp $T/legal.txt $T/legal-w$i.txt; done # legal's weight x3 (as m7legal's)
# ask's share: the first half of each (dense takes the whole files)
head -c 4000000 $T/assoc-qi.txt > $T/assoc-qi4.txt
head -c 3000000 $T/assoc-qf.txt > $T/assoc-qf3.txt
head -c 2000000 $T/assoc-qd.txt > $T/assoc-qd2.txt
echo "materials $(date -u +%T)"; cat $W/material-*.log

export OMP_NUM_THREADS=2
O="--warmup 20 --schedule wsd --clip 1.0 --eval-every 100 --checkpoint-every 100"
# lane NAME STEPS "FILES" OPTS [FROM]: one stage from FROM (default START) if NAME is in LANES,
# its log $W/train-NAME.log; OPTS without --lr take 3e-3
lane() {
  [[ " $LANES " == *" $1 "* ]] || return 0
  local opts="$O $4"
  [[ "$4" == *--lr* ]] || opts="$opts --lr 3e-3"
  OUTDIR=$W/out STAGE_LOG=$W/train-$1.log stage "$1" "${5:-$START}" "${TRAIN_END:-400}" "$2" "$3" \
    "$opts" > /dev/null
}
mkdir -p $W/out
P=()
CORPUS3="$T/code.txt $T/prose.txt $T/legal.txt $T/legal-w2.txt $T/legal-w3.txt"
lane m10ask "${ASK_STEPS:-9500}" "$CORPUS3 $T/assoc-qi4.txt $T/assoc-qd2.txt $T/assoc-qf3.txt \
  $T/retrieval.txt $T/assoc-ww.txt" "--seq-len 4096 --batch 1 --seed 101" & P+=($!)
sleep 2
lane m10dense "${DENSE_STEPS:-9500}" "$CORPUS3 $T/assoc-qi.txt $T/assoc-qd.txt $T/assoc-qf.txt \
  $T/retrieval.txt $T/assoc-ww.txt" "--seq-len 4096 --batch 1 --seed 103" & P+=($!)
sleep 2
# reach: windows of 32,768 (REACH_SEQ), so that most questions keep their fact (a question at a
# random place of a window of W keeps a fact d back with odds 1 - d/W: 0.54 for 15 KB in 32 KB,
# 0.08 in 16 KB); no run had trained on windows over 8,192 on the GPU, so if that stage ends
# within a minute without weights, windows of 16,384 take the time left (REACH_STEPS x 2 steps).
reach() {
  [[ " $LANES " == *" m10reach "* ]] || return 0
  local t0=$SECONDS files="$T/code.txt $T/prose.txt $T/legal.txt $T/legal-w2.txt $T/assoc-qb.txt \
    $T/assoc-qi.txt $T/assoc-ww.txt" steps=${REACH_STEPS:-1200} len=${REACH_SEQ:-32768}
  lane m10reach "$steps" "$files" "--seq-len $len --batch 1 --seed 102"
  [ -f $W/out/model-m10reach.safetensors ] || [ $((SECONDS - t0)) -gt 60 ] && return
  echo "reach: no weights at $len after $((SECONDS - t0)) s: windows of $((len / 2))"
  TRAIN_END=$((${TRAIN_END:-400} - SECONDS + t0)) lane m10reach $((steps * 2)) "$files" \
    "--seq-len $((len / 2)) --batch 1 --seed 102"
}
reach & P+=($!)
sleep 2
lane m11ask8 "${ASK8_STEPS:-800}" "$CORPUS3 $T/assoc-qi4.txt $T/assoc-qd2.txt $T/assoc-qf3.txt \
  $T/retrieval.txt $T/assoc-ww.txt" "--seq-len 4096 --batch 8 --seed 104" & P+=($!)
sleep 2
lane m11fix "${FIX_STEPS:-800}" "$CORPUS3 $T/assoc-qf3.txt $T/retrieval.txt" \
  "--seq-len 4096 --batch 8 --seed 105 --lr 1e-3" "$CARRY/m10ask" & P+=($!)
wait "${P[@]}"
echo "trained $(date -u +%T)"
grep -h 'stage .*\(trained\|weights\)' $W/train-*.log

export OMP_NUM_THREADS=1 EVAL_TIMEOUT=${EVAL_TIMEOUT:-180}
P=()
for l in $LANES; do [ -f /tmp/m-$l/model.safetensors ] && evaluate $l /tmp/m-$l & P+=($!); done
wait "${P[@]}"
echo "lanes evaluated $(date -u +%T)"
wait $EVAL_START_PID
cat $W/eval-start.log

for f in $E/*.out; do echo "== $(basename "$f" .out)"; cat "$f"; done > "$OUTDIR/eval.log"
{
  cat $E/bpb-*.out
  for f in $E/re-*.out; do echo "$(basename "$f" .out): $(grep -c '^RIGHT' "$f") of $(grep -c '^\(RIGHT\|wrong\)' "$f") right $(grep -o 'exit.*' "$f")"; done
  grep -H 'ask first' $E/wide-*.out
  # shellcheck disable=SC2046
  python3 "$ROOT/scripts/model/metrics_summary.py" $(for m in $LANES; do echo $W/out/metrics-$m.jsonl; done)
} > "$OUTDIR/summary.txt"
cat "$OUTDIR/summary.txt"
cp $W/out/model-*.safetensors "$OUTDIR"/ 2> /dev/null
cp $W/out/metrics-*.jsonl $W/ 2> /dev/null
tar -C /tmp --exclude="*.safetensors" --exclude="assoc-*.txt" -czf "$OUTDIR/askreach.tar.gz" askreach
echo "done $(date -u +%T)"
ls -la "$OUTDIR"
