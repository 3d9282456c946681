#!/usr/bin/env bash
# Here (no GPU): builds the CUDA tests and benchmark in build-cuda and packs what the GPU
# machine needs into .gpu-carry (git-ignored through .git/info/exclude): stripped
# binaries, the OpenBLAS/gfortran/gomp runtime (OpenBLAS xz-compressed to fit the carry
# limit), and the golden data without grads and .bin files. Then carry .gpu-carry and
# third_party_ref and run scripts/gpu/run_gpu_checks.sh there.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
EXCL=$(git rev-parse --git-path info/exclude); mkdir -p "$(dirname "$EXCL")"
grep -qx "/.gpu-carry/" "$EXCL" 2>/dev/null || echo "/.gpu-carry/" >> "$EXCL"
cmake -S . -B build-cuda -G Ninja -DLECTERN_INGEST=OFF -DLECTERN_GUI=OFF -DLECTERN_STATIC_RUNTIME=ON > /dev/null
ninja -C build-cuda -j2 test_cuda_kernels test_cuda_scan test_cuda_model test_cuda_session test_cuda_sampling test_device_select bench_cuda
rm -rf .gpu-carry
mkdir -p .gpu-carry/bin .gpu-carry/lib .gpu-carry/golden
for t in tests/cuda/test_cuda_kernels tests/cuda/test_cuda_scan tests/cuda/test_cuda_model tests/cuda/test_cuda_session tests/cuda/test_cuda_sampling tests/cuda/test_device_select tests/bench/bench_cuda; do
  strip -o ".gpu-carry/bin/$(basename $t)" "build-cuda/$t"
done
L=/usr/lib/x86_64-linux-gnu
xz -9 -c "$(readlink -f $L/libopenblas.so.0)" > .gpu-carry/lib/libopenblas.so.0.xz
for l in libgfortran.so.5 libgomp.so.1 libquadmath.so.0; do cp -L "$L/$l" .gpu-carry/lib/; done
for c in siso_tiny siso_mlp_norm mimo_tiny mimo_norm; do
  mkdir -p ".gpu-carry/golden/$c"
  cp "../shared/golden/$c/config.json" "../shared/golden/$c/model.safetensors" \
     "../shared/golden/$c/io.safetensors" ".gpu-carry/golden/$c/"
done
du -sh .gpu-carry
