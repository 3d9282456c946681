#!/usr/bin/env bash
# Here (no GPU): builds the CUDA tests and benchmark in build-cuda and packs what the GPU
# machine needs into .gpu-carry (git-ignored through .git/info/exclude): stripped
# binaries, the OpenBLAS/gfortran/gomp runtime (OpenBLAS xz-compressed to fit the carry
# limit), and the golden data without .bin files. Then carry .gpu-carry and
# third_party_ref and run scripts/gpu/run_gpu_checks.sh there.
# LECTERN_GPU_CARRY=DIR (relative to the root, default .gpu-carry) and LECTERN_CUDA_BUILD=DIR
# (default build-cuda) let several people pack their own carry side by side; EXTRA_TARGETS
# (space-separated target names, found anywhere under the build dir) adds binaries.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
EXCL=$(git rev-parse --git-path info/exclude); mkdir -p "$(dirname "$EXCL")"
CARRY=${LECTERN_GPU_CARRY:-.gpu-carry}
BUILD=${LECTERN_CUDA_BUILD:-build-cuda}
grep -qx "/$CARRY/" "$EXCL" 2>/dev/null || echo "/$CARRY/" >> "$EXCL"
cmake -S . -B "$BUILD" -G Ninja -DLECTERN_INGEST=OFF -DLECTERN_GUI=OFF -DLECTERN_STATIC_RUNTIME=ON > /dev/null
ninja -C "$BUILD" -j2 test_cuda_kernels test_cuda_scan test_cuda_scan_backward test_cuda_model test_cuda_session test_cuda_sampling test_cuda_backward_ops test_cuda_train test_cuda_lora test_device_select test_cuda_reliability test_cuda_long_drift bench_cuda ${EXTRA_TARGETS:-}
rm -rf "$CARRY"
mkdir -p "$CARRY/bin" "$CARRY/lib" "$CARRY/golden"
for t in tests/cuda/test_cuda_kernels tests/cuda/test_cuda_scan tests/cuda/test_cuda_scan_backward tests/cuda/test_cuda_model tests/cuda/test_cuda_session tests/cuda/test_cuda_sampling tests/cuda/test_cuda_backward_ops tests/cuda/test_cuda_train tests/cuda/test_cuda_lora tests/cuda/test_device_select tests/cuda/test_cuda_reliability tests/cuda/test_cuda_long_drift tests/bench/bench_cuda; do
  strip -o "$CARRY/bin/$(basename $t)" "$BUILD/$t"
done
for t in ${EXTRA_TARGETS:-}; do
  f=$(find "$BUILD" -name "$t" -type f -perm -u+x | head -1)
  strip -o "$CARRY/bin/$t" "$f"
done
# The carry is limited to 64 MiB: binaries and the big libraries travel xz-compressed
# (run_gpu_checks.sh unpacks every *.xz it finds there).
xz -T2 -6 "$CARRY"/bin/*
L=/usr/lib/x86_64-linux-gnu
xz -9 -c "$(readlink -f $L/libopenblas.so.0)" > "$CARRY/lib/libopenblas.so.0.xz"
# lectern-cli (an EXTRA_TARGETS entry) needs ICU, which the GPU machine lacks.
for l in libicuuc.so.72 libicudata.so.72; do xz -9 -c "$(readlink -f $L/$l)" > "$CARRY/lib/$l.xz"; done
for l in libgfortran.so.5 libgomp.so.1 libquadmath.so.0; do cp -L "$L/$l" "$CARRY/lib/"; done
for c in siso_tiny siso_mlp_norm mimo_tiny mimo_norm; do
  mkdir -p "$CARRY/golden/$c"
  cp "../shared/golden/$c/config.json" "../shared/golden/$c/model.safetensors" \
     "../shared/golden/$c/io.safetensors" "../shared/golden/$c/grads.safetensors" "$CARRY/golden/$c/"
done
du -sh "$CARRY"
