#!/usr/bin/env bash
# Here: packs what scripts/model/train_on_device.sh needs on the GPU machine into CARRY
# (default .h5carry; git-ignored through .git/info/exclude): a stripped lectern-cli, the runtime libraries it
# links (OpenBLAS, gfortran, gomp, ICU, libstdc++; the large ones xz-compressed to fit the
# carry limit), the training corpus and the validation texts and retrieval sets (1k-64k) the
# evaluation reads. Carry CARRY in the device call (train_on_device.sh, continue_on_device.sh,
# ask_reach_on_device.sh). BUILD_DIR may be a CUDA build (lectern-cli train --device cuda;
# -DLECTERN_STATIC_RUNTIME=ON links the CUDA runtime statically).
#
#   scripts/model/pack_device_carry.sh BUILD_DIR CORPUS [CARRY]
set -eu
BUILD=$1 CORPUS=$2 C=${3:-.h5carry}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
EXCL=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$EXCL")"
grep -qx "/$C/" "$EXCL" 2>/dev/null || echo "/$C/" >> "$EXCL"
rm -rf "$C" && mkdir -p "$C/bin" "$C/lib" "$C/corpus"
strip -o "$C"/bin/lectern-cli "$BUILD/app/lectern-cli"
L=/usr/lib/x86_64-linux-gnu
for l in libgfortran.so.5 libgomp.so.1 libquadmath.so.0 libstdc++.so.6 libgcc_s.so.1 libicuuc.so.72; do
  cp -L "$L/$l" "$C"/lib/
done
xz -6 -c "$(readlink -f $L/libopenblas.so.0)" > "$C"/lib/libopenblas.so.0.xz
xz -6 -c "$(readlink -f $L/libicudata.so.72)" > "$C"/lib/libicudata.so.72.xz
# the held-out retrieval sets up to 64k where the corpus has them (16k and 64k: ~0.6 MB gzipped)
V=$(cd "$CORPUS" && ls valid/retrieval-{1k,4k,16k,64k}.jsonl 2> /dev/null || true)
# shellcheck disable=SC2086
tar -C "$CORPUS" -cf - train valid/code.txt valid/prose.txt valid/legal.txt $V | gzip -4 > "$C"/corpus/train.tar.gz
du -sh "$C"
