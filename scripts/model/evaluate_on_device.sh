# shellcheck shell=bash
# Sourced by the *_on_device.sh scripts (the GPU machine), after unpack_carry.
# evaluate_stages FINAL EARLY: on the CPU cores, one thread a job, all at once (16 cores):
# FINAL's validation bits per byte (first 64 KiB of each kind, windows of 1,024, as
# evaluate.py), FINAL's retrieval at 1k (60), 4k (20) and 16k (6), EARLY's at 1k (20), and
# copy_probe.py on both (FINAL and EARLY are stage names: model folders /tmp/m-NAME).
# Writes OUTDIR/eval.log.
eval_part() {  # eval_part NAME FILE FIRST COUNT MODEL
  sed -n "$(($3 + 1)),$(($3 + $4))p" "$2" > $E/$1.jsonl
  timeout ${EVAL_TIMEOUT:-150} "$CLI" retrieval-eval --model "$5" --data $E/$1.jsonl --json \
    --max-tokens 96 > $E/$1.out 2>&1 || echo "exit $? (124: cut by EVAL_TIMEOUT)" >> $E/$1.out
}

# bpb_part NAME KIND OUTFILE: "NAME KIND X bits/byte" of model /tmp/m-NAME on the first 64 KiB
# of the corpus's held-out KIND text, windows of 1,024 (as evaluate.py), into OUTFILE.
bpb_part() {
  head -c 65536 "$CORPUS/valid/$2.txt" > "$E/valid-$1-$2.txt"
  echo "$1 $2 $(timeout ${EVAL_TIMEOUT:-150} "$CLI" eval --model "/tmp/m-$1" \
    --text "$E/valid-$1-$2.txt" --seq-len 1024 2>&1 | grep -o '[0-9.]* bits/byte')" > "$3"
}

evaluate_stages() {
  local fin=$1 early=$2 kind m V=$CORPUS/valid
  export OMP_NUM_THREADS=1
  E=/tmp/reval
  rm -rf $E && mkdir -p $E
  for kind in code prose legal; do bpb_part "$fin" $kind $E/bpb-$kind.out & done
  eval_part ${fin}1k-a $V/retrieval-1k.jsonl 0 20 /tmp/m-$fin &
  eval_part ${fin}1k-b $V/retrieval-1k.jsonl 20 20 /tmp/m-$fin &
  eval_part ${fin}1k-c $V/retrieval-1k.jsonl 40 20 /tmp/m-$fin &
  eval_part ${fin}4k-a $V/retrieval-4k.jsonl 0 10 /tmp/m-$fin &
  eval_part ${fin}4k-b $V/retrieval-4k.jsonl 10 10 /tmp/m-$fin &
  eval_part ${fin}16k-a $V/retrieval-16k.jsonl 0 3 /tmp/m-$fin &
  eval_part ${fin}16k-b $V/retrieval-16k.jsonl 3 3 /tmp/m-$fin &
  eval_part ${early}1k-a $V/retrieval-1k.jsonl 0 20 /tmp/m-$early &
  for m in $early $fin; do
    timeout ${EVAL_TIMEOUT:-150} python3 "$ROOT/scripts/model/copy_probe.py" --cli "$CLI" \
      --model /tmp/m-$m --n 20 > $E/probe-$m.out 2>&1 &
  done
  wait
  for f in $E/*.out; do echo "== $(basename "$f" .out)"; cat "$f"; done | tee "$OUTDIR/eval.log"
}
