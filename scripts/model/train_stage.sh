# shellcheck shell=bash
# Sourced by the *_on_device.sh scripts (the GPU machine): one fine-tuning stage with
# `lectern-cli train`, and the step count that fits a stage's seconds. Needs CLI, ROOT and
# OUTDIR set.
#
# stage NAME FROM_DIR SECONDS STEPS "TEXT FILES" OPTS: trains FROM_DIR on the files into
# /tmp/r-NAME and leaves the model folder /tmp/m-NAME (weights + the bundled tokenizer and
# prompt); OUTDIR gets model-NAME.safetensors, config.json, metrics-NAME.jsonl and train.log.
# FROM_DIR may instead be a config.json: the stage then trains a new model from scratch.
# STAGE_LOG (default OUTDIR/train.log) is the log, so that stages can run side by side.

# The trainer's progress line, one line in five (the device returns only a log's tail).
log() { tr '\r' '\n' | grep -v '^$' | awk 'NR % 5 == 1'; }

stage() {
  local name=$1 from=$2 secs=$3 steps=$4 text=$5 opts=$6 run=/tmp/r-$1 new=/tmp/m-$1
  local L=${STAGE_LOG:-$OUTDIR/train.log} init="--base $2"
  [ -f "$from" ] && init="--config $from"
  rm -rf $run $new && mkdir -p $run $new # a fresh run, not a resumed one
  echo "stage $name: $init --steps $steps ($secs s) $opts" | tee -a "$L"
  local t0
  t0=$(date +%s)
  # shellcheck disable=SC2086
  timeout "$secs" "$CLI" train --device "${DEVICE:-cuda}" $init --text $text \
    --out $run --steps "$steps" $opts 2>&1 | log >> "$L"
  echo "stage $name: trained for $(($(date +%s) - t0)) s" | tee -a "$L"
  local d=$run
  [ -f $run/model.safetensors ] || d=$run/$(cat $run/latest 2> /dev/null)
  echo "stage $name: weights of $d" | tee -a "$L"
  cp "$ROOT"/resources/models/default/{tokenizer,prompt}.json $new/
  cp "$d/config.json" "$d/model.safetensors" $new/
  cp "$d/model.safetensors" "$OUTDIR/model-$name.safetensors"
  cp "$d/config.json" "$OUTDIR/config.json"
  cp $run/metrics.jsonl "$OUTDIR/metrics-$name.jsonl" 2> /dev/null
  tail -2 "$L"
}

# steps_for SECONDS [RUN]: steps of 32 x 2,048 tokens that fit SECONDS (0.9 and 12 s leave
# room for start-up and checkpoints) at RUN's last measured tokens/s (a finished stage's
# /tmp/r-NAME), else at TPS (default 100k, the H100's rate of training/NOTES-cuda.md).
steps_for() {
  python3 - "$1" "${2:-}" "${TPS:-100000}" << 'PY'
import json, os, sys
secs, run, tps = float(sys.argv[1]), sys.argv[2], float(sys.argv[3])
m = os.path.join(run, "metrics.jsonl")
rows = [json.loads(l) for l in open(m) if '"tokens_per_s"' in l] if run and os.path.exists(m) else []
print(max(1, int((secs - 12) * 0.9 * (rows[-1]["tokens_per_s"] if rows else tps) / 65536)))
PY
}
