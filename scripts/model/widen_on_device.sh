#!/usr/bin/env bash
# Issue 6, one GPU call: a model that has the key-bound lookup on one-letter keys and one
# digit (MODEL_CARD.md, "headdim 32 continued": CARRY/m4c) widened toward the real task, three
# lanes side by side from the same weights (CARRY/START, default m4c), each a
# sweep_on_device.sh of its own (LANES picks them, default "m4wide m4task m4text"):
#   wide  the lookup itself widened: --bind (one byte), --bind --sep = (the key two bytes
#         back) and --bind with keys of 1-4 bytes and values of 1-5 digits (--key-len,
#         --value-len; keys often share their last byte, so a last-byte lookup fails);
#   task  toward answering: some of wide's material, --assoc (keys of 3-5, values of 3-6
#         digits, half of them in real text), the question format of recall-2k and ~20%
#         corpus text, in windows of 1,024 bytes;
#   text  does the lookup survive text: bind material (~23%) and the whole corpus;
#   keys  one widening at a time: keys of 2-4 bytes, one digit (~57%), with bind, bind= and
#         ~20% corpus text;
#   vals  the same with one-letter keys and values of 2-5 digits;
#   ask   the lookup in the task's layout (make_recall.py --ask): ten keys stated as a k=v
#         line, as #define lines or as #defines in real text, then asked as the task's
#         questions; identifier keys (WORD_NOUN_NN, values of 4-5 digits, ~34%) and keys of
#         1-4 bytes (values 1-5, ~17%), with the widened k=v form (13%), the question format
#         of recall-2k (21%) and ~15% corpus text, in windows of 1,024;
#   long  the widened k=v form with keys of 4-20 bytes (the task's identifiers are ~20),
#         with the widened form, bind= and ~20% corpus text, in windows of 1,024;
#   dist  (from ask's weights) distance: identifier #defines each in 1-4 KB of real text
#         (--in-text, 32%), ask's identifier form, recall-2k and corpus slices, windows 4,096;
#   phrase  the task's three kinds of fact asked (--task-facts: defined terms and clauses
#         answered in words, 32%), ask's identifier form, recall-2k, slices, windows 1,024;
#   cand  a bundle candidate's mix: identifier and task-fact questions (4 MB each, ~32%) with
#         the whole corpus (~68%), windows 1,024.
#   legal  (from cand's weights) legal text weighted up (three copies, ~30%) with the whole
#         corpus, dist's in-text #defines (4 MB) and the widened k=v form (3 MB, ~10%: cand
#         lost that lookup), windows 1,024: does legal reach the bundled model's bits per byte?
#   reach  (from cand's weights) identifier #defines each in 2-7 KB of real text (--in-text,
#         8 MB), identifier questions, the widened k=v form and slices, windows 8,192; also
#         retrieval at 16k (5 examples, one a job).
# Then, on the CPU cores at once: copy_probe.py's bind, bind=, assoc and assoc1 on each lane,
# wide_probe.py on each (keys and vals also in their own form), validation bits per byte of
# each lane (first 64 KiB of each kind, windows of 1,024, as evaluate.py), retrieval of task
# at 1k (50) and 4k (10) and of text at 1k (20) (where run); ask: wide_probe.py --ask on its
# identifier form and retrieval at 1k (50) and 4k (10), as for dist, phrase and cand; long:
# wide_probe.py on keys of 4-20.
#
#   there: TRAIN_END=270 bash scripts/model/widen_on_device.sh CARRY OUTDIR
#
# OUTDIR gets model-LANE.safetensors, widen.tar.gz (each lane's sweep archive,
# logs and the evaluation outputs) and eval.log.
set -u
CARRY=$(cd "$1" && pwd) OUTDIR=$2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=/tmp/m4widen
rm -rf $W && mkdir -p $W "$OUTDIR"
. "$ROOT/scripts/model/unpack_carry.sh"
. "$ROOT/scripts/model/evaluate_on_device.sh" # eval_part, bpb_part
unpack_carry "$CARRY"
T=$CORPUS/train
mk() { # mk NAME BYTES OPTIONS...: make_recall.py material, train/assoc-NAME.txt
  local name=$1 bytes=$2
  shift 2
  python3 "$ROOT/scripts/model/make_recall.py" "$CORPUS" --name "$name" --seed 87 --assoc \
    --bytes "$bytes" "$@" > $W/material-$name.log
}
mk wb 6000000 --plain --bind &
mk wbe 5000000 --plain --bind --sep = &
mk ww 10000000 --plain --bind --sep = --key-len 1-4 --value-len 1-5 &
mk wa 4000000 &
mk wk 10000000 --plain --bind --sep = --key-len 2-4 &
mk wv 10000000 --plain --bind --sep = --value-len 2-5 &
LANES=${LANES:-m4wide m4task m4text}
[[ " $LANES " == *" m6ask "* ]] && mk qs 4000000 --ask --key-len 1-4 --value-len 1-5 &
if [[ " $LANES " =~ \ (m6(ask|dist|phrase|cand)|m7(legal|reach))\  ]]; then
  mk qi 8000000 --ask --ident-keys --value-len 4-5 &
  mk qf 8000000 --ask --task-facts &
  mk qd 8000000 --ask --ident-keys --in-text --value-len 4-5 --min-context 1000 --max-context 4000 &
fi
[[ " $LANES " == *" m7reach "* ]] &&
  mk qr 8000000 --ask --ident-keys --in-text --value-len 4-5 --min-context 2000 --max-context 7000 &
[[ " $LANES " == *" m6long "* ]] && mk wl 10000000 --plain --bind --sep = --key-len 4-20 --value-len 1-5 &
wait
head -c 5000000 $T/recall-2k.txt > $T/recall-w.txt
for k in code prose legal; do head -c 1200000 $T/$k.txt > $T/slice-w-$k.txt; done
head -c 2000000 $T/assoc-wb.txt > $T/assoc-wb2.txt
head -c 3000000 $T/assoc-ww.txt > $T/assoc-ww3.txt
head -c 2000000 $T/assoc-wbe.txt > $T/assoc-wbe2.txt
for q in qi qf; do [ -f $T/assoc-$q.txt ] && head -c 4000000 $T/assoc-$q.txt > $T/assoc-${q}4.txt; done
head -c 4000000 $T/assoc-qd.txt > $T/assoc-qd4.txt 2> /dev/null
for i in 2 3; do cp $T/legal.txt $T/legal-w$i.txt; done # legal's weight x3 (m7legal)
SLICES="$T/slice-w-code.txt $T/slice-w-prose.txt $T/slice-w-legal.txt"

O="--lr 3e-3 --warmup 20 --schedule wsd --clip 1.0 --eval-every 100 --checkpoint-every 100"
export STEPS=${STEPS:-7000} PROBE_FORMATS=bind,bind=,assoc,assoc1 TAR_MODELS=0 \
  EVAL_TIMEOUT=${PROBE_TIMEOUT:-60} SECONDS_EACH=${TRAIN_END:-270} BASE=$CARRY/${START:-m4c}
lane() { # lane NAME "FILES" OPTS: one sweep_on_device.sh, its log $W/NAME.log (if in LANES)
  [[ " $LANES " == *" $1 "* ]] || return 0
  TAG=$1 SWEEP=$1 MATERIAL_TEXT=$2 OPTS="$O $3" bash "$ROOT/scripts/model/sweep_on_device.sh" \
    "$CARRY" "$W/$1" > "$W/$1.log" 2>&1
}
lane m4wide "$T/assoc-wb.txt $T/assoc-wbe.txt $T/assoc-ww.txt" "--seq-len 512 --batch 8 --seed 86" &
sleep 2
lane m4task "$T/assoc-wb2.txt $T/assoc-ww3.txt $T/assoc-wa.txt $T/recall-w.txt $SLICES" \
  "--seq-len 1024 --batch 4 --seed 88" &
sleep 2
lane m4text "$T/assoc-wb2.txt $T/assoc-ww3.txt $T/code.txt $T/prose.txt $T/legal.txt" \
  "--seq-len 1024 --batch 4 --seed 89" &
sleep 2
lane m4keys "$T/assoc-wk.txt $T/assoc-wb2.txt $T/assoc-wbe2.txt $SLICES" "--seq-len 512 --batch 8 --seed 90" &
sleep 2
lane m4vals "$T/assoc-wv.txt $T/assoc-wb2.txt $T/assoc-wbe2.txt $SLICES" "--seq-len 512 --batch 8 --seed 91" &
sleep 2
lane m6ask "$T/assoc-qi.txt $T/assoc-qs.txt $T/assoc-ww3.txt $T/recall-w.txt $SLICES" \
  "--seq-len 1024 --batch 4 --seed 92" &
sleep 2
lane m6long "$T/assoc-wl.txt $T/assoc-ww3.txt $T/assoc-wbe2.txt $SLICES" "--seq-len 1024 --batch 4 --seed 93" &
sleep 2
lane m6dist "$T/assoc-qd.txt $T/assoc-qi.txt $T/recall-w.txt $SLICES" "--seq-len 4096 --batch 1 --seed 94" &
sleep 2
lane m6phrase "$T/assoc-qf.txt $T/assoc-qi.txt $T/recall-w.txt $SLICES" "--seq-len 1024 --batch 4 --seed 95" &
sleep 2
lane m6cand "$T/assoc-qi4.txt $T/assoc-qf4.txt $T/code.txt $T/prose.txt $T/legal.txt" \
  "--seq-len 1024 --batch 4 --seed 96" &
sleep 2
lane m7legal "$T/assoc-qd4.txt $T/assoc-ww3.txt $T/code.txt $T/prose.txt $T/legal.txt \
  $T/legal-w2.txt $T/legal-w3.txt" "--seq-len 1024 --batch 4 --seed 97" &
sleep 2
# half the steps at twice the window: the other lanes' tokens, and its wsd decay within the time
STEPS=$(((STEPS + 1) / 2)) lane m7reach "$T/assoc-qr.txt $T/assoc-qi4.txt $T/assoc-ww3.txt $SLICES" \
  "--seq-len 8192 --batch 1 --seed 98" &
wait

# Evaluation on the CPU cores, one thread a job, all at once (the lanes' probes ran already).
export OMP_NUM_THREADS=1
E=$W/eval EVAL_TIMEOUT=${EVAL_TIMEOUT_EVAL:-120}
mkdir -p $E
V=$CORPUS/valid
for k in code prose legal; do
  for m in $LANES; do bpb_part $m $k $E/bpb-$m-$k.out & done
done
# wide_part LANE TAG [OPTIONS]: wide_probe.py's digit bits of LANE (40 examples), $E/wide-LANE-TAG.out
wide_part() {
  local m=$1 t=$2
  shift 2
  timeout "$EVAL_TIMEOUT" python3 "$ROOT/scripts/model/wide_probe.py" --cli "$CLI" \
    --model /tmp/m-$m --n 40 "$@" > $E/wide-$m-$t.out 2>&1
}
for m in $LANES; do wide_part $m mixed & done # keys of 1-4 bytes, values of 1-5 digits
[[ " $LANES " == *" m4keys "* ]] && wide_part m4keys own --key-len 2-4 --value-len 1 &
[[ " $LANES " == *" m4vals "* ]] && wide_part m4vals own --key-len 1 --value-len 2-5 &
[[ " $LANES " == *" m6long "* ]] && wide_part m6long own --key-len 4-20 --value-len 1-5 &
for m in $LANES; do # the task's layout: identifier keys asked as questions (the ask lane's form)
  wide_part $m ask --ask --ident-keys --value-len 4-5 --text $V/prose.txt --n 20 &
done
# retrieval_part LANE TAG: LANE's retrieval at 1k (50, five jobs) and 4k (10, two), $E/TAG*.out
retrieval_part() {
  local m=/tmp/m-$1 t=$2 i
  [ -d $m ] && [[ " $LANES " == *" $1 "* ]] || return 0
  for i in 0 1 2 3 4; do eval_part ${t}1k-$i $V/retrieval-1k.jsonl $((i * 10)) 10 $m & done
  eval_part ${t}4k-0 $V/retrieval-4k.jsonl 0 5 $m &
  eval_part ${t}4k-1 $V/retrieval-4k.jsonl 5 5 $m &
}
for l in m4task:task m6ask:ask m6dist:dist m6phrase:phrase m6cand:cand m7legal:legal m7reach:reach; do retrieval_part ${l%:*} ${l#*:}; done
if [ -d /tmp/m-m7reach ] && [[ " $LANES " == *" m7reach "* ]]; then # 16k, one example a job
  for i in 0 1 2 3 4; do eval_part reach16k-$i $V/retrieval-16k.jsonl $i 1 /tmp/m-m7reach & done
fi
if [ -d /tmp/m-m4text ] && [[ " $LANES " == *" m4text "* ]]; then
  eval_part text1k-0 $V/retrieval-1k.jsonl 0 10 /tmp/m-m4text &
  eval_part text1k-1 $V/retrieval-1k.jsonl 10 10 /tmp/m-m4text &
fi
wait
for f in $E/*.out; do echo "== $(basename "$f" .out)"; cat "$f"; done > "$OUTDIR/eval.log"
mv $W/*/model-*.safetensors "$OUTDIR"/ 2> /dev/null
for m in $LANES; do
  echo "== $m"
  grep -E '^stage .*(trained|weights)|bits/byte' "$W/$m.log"
done
grep -h 'bits/byte\|right\|^== wide\|query first\|pairs, all' "$OUTDIR/eval.log"
# shellcheck disable=SC2046
python3 "$ROOT/scripts/model/metrics_summary.py" $(for m in $LANES; do echo /tmp/$m/metrics-$m.jsonl; done)
# shellcheck disable=SC2086
tar -C /tmp --exclude="*.safetensors" -czf "$OUTDIR/widen.tar.gz" m4widen $LANES
ls -la "$OUTDIR"
