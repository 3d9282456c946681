#!/usr/bin/env bash
# Issue 6, one GPU call: which model config learns the lookup answering needs? Several
# configs trained FROM SCRATCH side by side (one call compares them; on the H100 five such
# processes shared its ~100k tokens/s of the 2.7 M-parameter model, so side by side buys no
# speed), on make_recall.py material (default: the plainest associative recall with no
# shortcut, `--assoc --plain --bind`), then copy_probe.py on each on the machine's CPU cores. Whether the
# lookup was found says copy_probe.py's `bind` format, not the loss or the `plain` format:
# on --plain material a model that keeps the digits seen and which were asked already pays
# less for the queried digits without any key-bound lookup (MODEL_CARD.md, 22:00 UTC).
# On --plain --bind material (ten keys, the ten digits, queried with replacement) the loss
# is ~1.51 nats a byte without the lookup (keys tracked) and ~1.13 with it.
#
#   here:  CARRY of pack_recall_carry.sh (the binary, its libraries and the corpus)
#   there: SWEEP="base ds128:d_state=128 t:d_model=64,n_layer=2,device=cpu" SECONDS_EACH=200 \
#            bash scripts/model/sweep_on_device.sh CARRY OUTDIR
#
# SWEEP: NAME[:KEY=VALUE,...] a run, KEY a key of training/configs/default_model.json (top
# level or ssm_cfg), a train option (lr, batch, seq-len, warmup, seed) or device (cpu: that run on
# the machine's CPU cores, two threads, beside the GPU's). MATERIAL: make_recall.py
# options; OPTS: train options; STEPS: the step count (a run cut by SECONDS_EACH keeps its
# latest checkpoint; the default wsd schedule holds the peak lr, so a cut run is not
# mid-decay); MATERIAL_TEXT (instead of MATERIAL); PROBE_FORMATS; DEVICE (every run's device, default cuda); TAG; TAR_MODELS
# (ignored when the weights are too large for the device's returned files). OUTDIR gets
# model-NAME.safetensors for each run and TAG.tar.gz (each run's config, metrics, log and
# probe).
set -u
CARRY=$1 OUTDIR=$2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$OUTDIR"
. "$ROOT/scripts/model/unpack_carry.sh" # unpack_carry
. "$ROOT/scripts/model/train_stage.sh"  # stage
unpack_carry "$CARRY"
TAG=${TAG:-sweep} # names the material, the work folder and the archive: two sweeps can run at once
S=/tmp/$TAG
mkdir -p $S
# MATERIAL_TEXT: a material file written already (by another sweep of the same call)
if [ -z "${MATERIAL_TEXT:-}" ]; then
  # shellcheck disable=SC2086
  python3 "$ROOT/scripts/model/make_recall.py" "$CORPUS" --name $TAG --seed 81 \
    ${MATERIAL:---assoc --plain --bind --bytes 16000000} | tee $S/material.log
fi
TEXT=${MATERIAL_TEXT:-$(ls "$CORPUS"/train/*-$TAG.txt)}
OPTS=${OPTS:---seq-len 2048 --batch 32 --lr 3e-3 --warmup 30 --schedule wsd --clip 1.0 --eval-every 25 --checkpoint-every 25 --seed 81}

# config NAME OVERRIDES: writes $S/config-NAME.json, prints the run's train options (lr,
# batch, seq-len, warmup: they replace OPTS' own) as "--KEY VALUE" lines.
config() {
  python3 - "$ROOT/training/configs/default_model.json" "$S/config-$1.json" "${2:-}" << 'PY'
import json, sys
c = json.load(open(sys.argv[1]))
for kv in filter(None, sys.argv[3].split(",")):
    k, v = kv.split("=")
    if k in ("lr", "batch", "seq-len", "warmup", "seed", "device"):
        print("--%s %s" % (k, v))
        continue
    where = c if k in c else c["ssm_cfg"]
    where[k] = json.loads(v)
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY
}

export OMP_NUM_THREADS=2
for spec in ${SWEEP:-base}; do
  name=${spec%%:*} over=""
  [ "$name" != "$spec" ] && over=${spec#*:}
  opts=$OPTS dev=${DEVICE:-cuda}
  while read -r key value; do
    [ "$key" = --device ] && dev=$value && continue
    [ -n "$key" ] && opts=$(echo "$opts" | sed -E "s/$key +[^ ]+/$key $value/")
  done < <(config "$name" "$over")
  # BASE: every run fine-tunes that model folder instead (model keys of SWEEP then unused)
  (DEVICE=$dev STAGE_LOG=$S/train-$name.log stage "$name" "${BASE:-$S/config-$name.json}" "${SECONDS_EACH:-200}" \
    "${STEPS:-2000}" "$TEXT" "$opts" > /dev/null) &
  sleep 2 # staggered starts: not all processes in their set-up at once
done
wait
for spec in ${SWEEP:-base}; do
  name=${spec%%:*}
  cp "$OUTDIR/metrics-$name.jsonl" $S/ 2> /dev/null
  timeout "${EVAL_TIMEOUT:-120}" python3 "$ROOT/scripts/model/copy_probe.py" --cli "$CLI" \
    --model /tmp/m-$name --n 20 --formats "${PROBE_FORMATS:-bind,plain,assoc1}" \
    > $S/probe-$name.out 2>&1 &
done
OMP_NUM_THREADS=1 wait
# TAR_MODELS=1: the weights in the archive (small models), but only while they stay under
# 12 MiB together: the device returns no file over 16 MiB, and on 2026-11-22 two bundled-size
# models (10.8 MB each) made the archive 20.6 MB, so it and every run's metrics were lost.
big=$(du -cb "$OUTDIR"/model-*.safetensors 2> /dev/null | tail -1 | cut -f1)
[ "${big:-0}" -gt 12582912 ] && TAR_MODELS=0 && echo "weights left beside the archive: $big bytes"
for spec in ${SWEEP:-base}; do
  name=${spec%%:*}
  rm -f "$OUTDIR/metrics-$name.jsonl"
  [ "${TAR_MODELS:-0}" = 1 ] && mv "$OUTDIR/model-$name.safetensors" $S/
done
rm -f "$OUTDIR/config.json"
for f in $S/probe-*.out; do echo "== $f"; grep -v '^{' "$f"; done
for f in $S/metrics-*.jsonl; do echo "== $f"; grep val_loss "$f" | tail -4; done
tar -C $S -czf "$OUTDIR/$TAG.tar.gz" .
ls -la "$OUTDIR"
