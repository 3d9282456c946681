#!/usr/bin/env bash
# Issue 6: training lanes side by side on the GPU machine, weights back, no evaluation
# there (the 2-core build machine evaluates a returned model in a few minutes, while GPU
# time is the scarce part). CARRY is pack_recall_carry.sh's (binary, libraries, corpus)
# plus CARRY/lanes.sh, sourced here after the unpacking with these set:
#   T, V     the corpus's train/ and valid/ folders (CORPUS3: its files, legal x3, retrieval)
#   END      seconds each lane may train (TRAIN_END, default 480)
#   lane NAME STEPS "FILES" "OPTS" FROM   one `lectern-cli train` stage from the model folder
#            FROM into /tmp/m-NAME (lanes.sh starts each with & and appends $! to P)
#   carried_model NAME   prints the model folder CARRY/NAME made from an earlier call's weights
#            (CARRY/NAME/model.safetensors.xz) with the bundled config, tokenizer and prompt
# CARRY/*.txt.xz are unpacked into T first (materials made on the build machine).
#
#   there: TRAIN_END=480 bash scripts/model/lanes_on_device.sh CARRY OUTDIR
#   here (smoke): DEVICE=cpu TRAIN_END=60 bash scripts/model/lanes_on_device.sh CARRY OUT
#
# OUTDIR gets model-NAME.safetensors, summary.txt and lanes.tar.gz (config.json, each lane's
# metrics-NAME.jsonl and train-NAME.log): at most six lanes, as the device returns 8 files.
set -u
CARRY=$(cd "$1" && pwd) OUTDIR=$(mkdir -p "$2" && cd "$2" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=/tmp/lanes
rm -rf $W && mkdir -p $W/out
. "$ROOT/scripts/model/unpack_carry.sh" # unpack_carry
. "$ROOT/scripts/model/train_stage.sh"  # stage
unpack_carry "$CARRY"
T=$CORPUS/train V=$CORPUS/valid END=${TRAIN_END:-480}
for f in "$CARRY"/*.txt.xz; do [ -e "$f" ] && xz -dc "$f" > "$T/$(basename "$f" .xz)"; done
for i in 2 3; do cp $T/legal.txt $T/legal-w$i.txt; done
CORPUS3="$T/code.txt $T/prose.txt $T/legal.txt $T/legal-w2.txt $T/legal-w3.txt $T/retrieval.txt"
O="--warmup 20 --schedule wsd --clip 1.0 --eval-every 100 --checkpoint-every 100 --lr 1e-3"
export OMP_NUM_THREADS=2
lane() {
  OUTDIR=$W/out STAGE_LOG=$W/train-$1.log stage "$1" "$5" "$END" "$2" "$3" "$O $4" > /dev/null
}
carried_model() {
  local d=$CARRY/$1
  cp "$ROOT"/resources/models/default/{config,tokenizer,prompt}.json "$d"/
  xz -dc "$d/model.safetensors.xz" > "$d/model.safetensors"
  echo "$d"
}
echo "start $(date -u +%T)"
P=()
. "$CARRY/lanes.sh"
wait "${P[@]}"
echo "trained $(date -u +%T)"
grep -h 'stage .*\(trained\|weights\)\|example starts' $W/train-*.log
# shellcheck disable=SC2046
python3 "$ROOT/scripts/model/metrics_summary.py" $(ls $W/out/metrics-*.jsonl) | tee "$OUTDIR/summary.txt"
# the device returns at most 8 files: the weights, the summary, and the rest in one tar
cp $W/out/model-*.safetensors "$OUTDIR"/ 2> /dev/null
(cd $W && tar -czf "$OUTDIR/lanes.tar.gz" out/config.json out/metrics-*.jsonl train-*.log)
nvidia-smi --query-gpu=name,memory.used --format=csv,noheader 2> /dev/null
echo "done $(date -u +%T)"
