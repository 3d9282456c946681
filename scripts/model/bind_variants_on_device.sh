#!/usr/bin/env bash
# Issue 6, one GPU call: what keeps the bundled architecture from binding a value to its key
# (MODEL_CARD.md, "narrower heads and shallower stacks")? Side by side on one GPU, every bind
# stage ending BIND_END seconds after the start:
#   BASE_RUNS  the bundled architecture given the bind stage from the plain-stage weights in
#              BASE_DIR (default CARRY/b8; sweep_on_device.sh's SWEEP form: NAME:KEY=VALUE,...;
#              lr and seed changes);
#   SCRATCH_RUNS configurations given the bind stage from scratch, no plain stage (model keys);
#   VARIANTS   configurations whose plain stage (`make_recall.py --assoc --plain --max-facts 8`)
#              is re-created first, from scratch, for PLAIN_S seconds; each then gets the bind
#              stage from its own plain weights (model keys of training/configs/default_model.json).
# Each stage is a sweep_on_device.sh of its own (its own TAG, work folder and log, so they run
# at once); copy_probe.py's bind and plain probes follow each stage on the CPU cores. The
# material is written once, before the clock starts (MSEED its seed, BIND_BYTES the bind
# material's size).
#
#   there: bash scripts/model/bind_variants_on_device.sh CARRY OUTDIR
#
# OUTDIR gets each bind run's model-NAME.safetensors and the 2-layer plain stage's (the device
# returns at most 8 files of at most 16 MiB, 64 MiB together) and bindvar.tar.gz (every sweep's
# archive and log); stdout ends with each run's steps, tokens/s, validation losses and probes.
set -u
CARRY=$(cd "$1" && pwd) OUTDIR=$2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=/tmp/m3bindvar
rm -rf $W && mkdir -p $W "$OUTDIR"
. "$ROOT/scripts/model/unpack_carry.sh"
unpack_carry "$CARRY" # once, before the sweeps (they find it unpacked)
MP=$CORPUS/train/assoc-m3plain.txt MB=$CORPUS/train/assoc-m3bind.txt
python3 "$ROOT/scripts/model/make_recall.py" "$CORPUS" --name m3plain --seed "${MSEED:-81}" --assoc --plain \
  --max-facts 8 --bytes 16000000 > $W/material-plain.log &
python3 "$ROOT/scripts/model/make_recall.py" "$CORPUS" --name m3bind --seed "${MSEED:-81}" --assoc --plain \
  --bind --bytes "${BIND_BYTES:-16000000}" > $W/material-bind.log &
wait
T0=$(date +%s)
left() { echo $((T0 + ${BIND_END:-175} - $(date +%s))); } # seconds to the common end
O="--seq-len 512 --batch 8 --lr 3e-3 --warmup 30 --schedule wsd --clip 1.0 --eval-every 100 \
--checkpoint-every 100"
export STEPS=${STEPS:-20000} PROBE_FORMATS=bind,plain TAR_MODELS=0
# sweep NAME: one sweep_on_device.sh into $W/NAME, its log $W/NAME.log (its options: env)
sweep() { TAG=$1 bash "$ROOT/scripts/model/sweep_on_device.sh" "$CARRY" "$W/$1" > "$W/$1.log" 2>&1; }

[ -n "${BASE_RUNS-x}" ] && BASE=${BASE_DIR:-$CARRY/b8} SWEEP=${BASE_RUNS:-m3bq5:lr=5e-3} MATERIAL_TEXT=$MB OPTS="$O --seed 83" \
  SECONDS_EACH=$(left) EVAL_TIMEOUT=${EVAL_TIMEOUT:-30} sweep m3bq &
for r in ${SCRATCH_RUNS:-}; do
  SWEEP="m3b$r" MATERIAL_TEXT=$MB OPTS="$O --seed 83" SECONDS_EACH=$(left) \
    EVAL_TIMEOUT=${EVAL_TIMEOUT:-30} sweep "m3b${r%%:*}" &
  sleep 2
done
for v in ${VARIANTS-h32:headdim=32 h16:headdim=16 l2:n_layer=2}; do
  name=${v%%:*} over=${v#*:}
  (
    SWEEP="m3p$name:$over" MATERIAL_TEXT=$MP OPTS="$O --seed 82" SECONDS_EACH=${PLAIN_S:-50} \
      EVAL_TIMEOUT=40 sweep "m3p$name" &
    plain=$! # its probes run on while the bind stage trains
    until [ -f "$W/m3p$name/model-m3p$name.safetensors" ] || ! kill -0 $plain 2> /dev/null; do
      sleep 1
    done
    [ -f "/tmp/m-m3p$name/model.safetensors" ] && BASE=/tmp/m-m3p$name SWEEP=m3b$name \
      MATERIAL_TEXT=$MB OPTS="$O --seed 83" SECONDS_EACH=$(left) \
      EVAL_TIMEOUT=${EVAL_TIMEOUT:-30} sweep "m3b$name"
    wait
  ) &
done
wait
mv $W/m3b*/model-*.safetensors $W/m3pl2/model-*.safetensors "$OUTDIR"/ 2> /dev/null
for f in $W/*.log; do
  echo "== $f"
  grep -E '^stage .*(trained|weights)|^ *[a-z0-9=]+ .*bits|^== .*probe' "$f"
done
python3 "$ROOT/scripts/model/metrics_summary.py" /tmp/m3*/metrics-*.jsonl
tar -C /tmp --exclude="*.safetensors" -czf "$OUTDIR/bindvar.tar.gz" m3bindvar
ls -la "$OUTDIR"
