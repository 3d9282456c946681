#!/usr/bin/env bash
# Here: packs what scripts/model/train_on_device.sh needs on the GPU machine into .h5carry/
# (git-ignored through .git/info/exclude): a stripped lectern-cli, the runtime libraries it
# links (OpenBLAS, gfortran, gomp, ICU, libstdc++; the large ones xz-compressed to fit the
# carry limit), the training corpus and the validation texts the evaluation reads. Carry
# .h5carry in the device call (train_on_device.sh or continue_on_device.sh).
#
#   scripts/model/pack_device_carry.sh BUILD_DIR CORPUS
set -eu
BUILD=$1 CORPUS=$2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
EXCL=$(git rev-parse --git-path info/exclude)
grep -qx "/.h5carry/" "$EXCL" 2>/dev/null || echo "/.h5carry/" >> "$EXCL"
rm -rf .h5carry && mkdir -p .h5carry/bin .h5carry/lib .h5carry/corpus
strip -o .h5carry/bin/lectern-cli "$BUILD/app/lectern-cli"
L=/usr/lib/x86_64-linux-gnu
for l in libgfortran.so.5 libgomp.so.1 libquadmath.so.0 libstdc++.so.6 libgcc_s.so.1 libicuuc.so.72; do
  cp -L "$L/$l" .h5carry/lib/
done
xz -6 -c "$(readlink -f $L/libopenblas.so.0)" > .h5carry/lib/libopenblas.so.0.xz
xz -6 -c "$(readlink -f $L/libicudata.so.72)" > .h5carry/lib/libicudata.so.72.xz
tar -C "$CORPUS" -cf - train valid/code.txt valid/prose.txt valid/legal.txt valid/retrieval-1k.jsonl | gzip -4 > .h5carry/corpus/train.tar.gz
du -sh .h5carry
