# Sourced by recall_on_device.sh and copy_curriculum_on_device.sh (the GPU machine): one
# fine-tuning stage with `lectern-cli train`. Needs CLI, ROOT and OUTDIR set.
#
# stage NAME FROM_DIR SECONDS STEPS "TEXT FILES" OPTS: trains FROM_DIR on the files into
# /tmp/r-NAME and leaves the model folder /tmp/m-NAME (weights + the bundled tokenizer and
# prompt); OUTDIR gets model-NAME.safetensors, config.json, metrics-NAME.jsonl and train.log.

# The trainer's progress line, one line in five (the device returns only a log's tail).
log() { tr '\r' '\n' | grep -v '^$' | awk 'NR % 5 == 1'; }

stage() {
  local name=$1 from=$2 secs=$3 steps=$4 text=$5 opts=$6 run=/tmp/r-$1 new=/tmp/m-$1
  mkdir -p $run $new
  echo "stage $name: --base $from --steps $steps ($secs s) $opts" | tee -a "$OUTDIR/train.log"
  local t0
  t0=$(date +%s)
  # shellcheck disable=SC2086
  timeout "$secs" "$CLI" train --device "${DEVICE:-cuda}" --base "$from" --text $text \
    --out $run --steps "$steps" $opts 2>&1 | log >> "$OUTDIR/train.log"
  echo "stage $name: trained for $(($(date +%s) - t0)) s" | tee -a "$OUTDIR/train.log"
  local d=$run
  [ -f $run/model.safetensors ] || d=$run/$(cat $run/latest 2> /dev/null)
  echo "stage $name: weights of $d" | tee -a "$OUTDIR/train.log"
  cp "$ROOT"/resources/models/default/{tokenizer,prompt}.json $new/
  cp "$d/config.json" "$d/model.safetensors" $new/
  cp "$d/model.safetensors" "$OUTDIR/model-$name.safetensors"
  cp "$d/config.json" "$OUTDIR/config.json"
  cp $run/metrics.jsonl "$OUTDIR/metrics-$name.jsonl" 2> /dev/null
  tail -2 "$OUTDIR/train.log"
}
