#!/usr/bin/env bash
# Here: packs what scripts/model/recall_on_device.sh needs on the GPU machine into CARRY
# (git-ignored through .git/info/exclude): pack_device_carry.sh's binary and libraries, the
# corpus text without the old single-fact retrieval file, make_recall.py's recall-2k and
# recall-8k files, and the binary xz-compressed (the whole working tree that travels,
# other people's untracked files included, must stay under 64 MiB).
#
#   scripts/model/pack_recall_carry.sh BUILD_DIR CORPUS CARRY
set -eu
BUILD=$1 CORPUS=$2 C=$3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VIEW=$(mktemp -d)
trap 'rm -rf "$VIEW"' EXIT
mkdir -p "$VIEW/train" "$VIEW/valid"
for k in code prose legal; do
  cp "$CORPUS/train/$k.txt" "$VIEW/train/"
  cp "$CORPUS/valid/$k.txt" "$VIEW/valid/"
done
cp "$CORPUS"/valid/retrieval-1k.jsonl "$CORPUS"/valid/retrieval-4k.jsonl "$VIEW/valid/"
"$ROOT/scripts/model/pack_device_carry.sh" "$BUILD" "$VIEW" "$C"
cd "$ROOT"
xz -T2 -6 "$C/bin/lectern-cli"
for n in 2k 8k; do # when present (the sweep of sweep_on_device.sh needs neither)
  [ -f "$CORPUS/train/recall-$n.txt" ] || continue
  xz -T2 -6 -c "$CORPUS/train/recall-$n.txt" > "$C/corpus/recall-$n.txt.xz"
done
du -sh "$C"
