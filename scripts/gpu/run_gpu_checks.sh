#!/usr/bin/env bash
# Runs on the GPU machine, in one go: every CUDA test, compute-sanitizer memcheck and
# racecheck over the kernel tests, the GPU benchmark (SISO and MIMO, bf16; SISO fp32; a
# long document in pieces) and the official implementation side by side. Results go to
# the folder named on the command line (a few files: summary.txt first).
#   scripts/gpu/run_gpu_checks.sh OUTDIR [PHASES]
# PHASES: a comma list of tests,sanitizer,bench,ncu,official (default: all but ncu; one
# call of the device tool runs at most 10 minutes; the whole default took ~3 minutes).
# Binaries: .gpu-carry/bin (made by scripts/gpu/pack_carry.sh, with its libraries in
# .gpu-carry/lib and the golden data in .gpu-carry/golden), else build-cuda's tree.
set -u
OUT=${1:?usage: run_gpu_checks.sh OUTDIR [PHASES]}
PHASES=${2:-tests,sanitizer,bench,official}
want() { case ",$PHASES," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$OUT"
CARRY=$ROOT/${LECTERN_GPU_CARRY:-.gpu-carry}  # pack_carry.sh's folder
if [ -d "$CARRY/bin" ]; then BIN=$CARRY/bin; else BIN=$ROOT/build-cuda; fi
find_bin() { if [ -x "$BIN/$1" ]; then echo "$BIN/$1"; else find "$BIN" -name "$1" -type f | head -1; fi; }
for f in "$CARRY"/bin/*.xz "$CARRY"/lib/*.xz; do  # pack_carry.sh compresses to fit the carry
  [ -f "$f" ] && [ ! -f "${f%.xz}" ] && xz -dk "$f" && chmod +x "${f%.xz}"
done
export LD_LIBRARY_PATH="$CARRY/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:${LD_LIBRARY_PATH:-}"
[ -d "$CARRY/golden" ] && export LECTERN_GOLDEN_DIR="$CARRY/golden"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
S=$OUT/summary.txt
: > "$S"
note() { echo "$*" | tee -a "$S"; }
note "run_gpu_checks $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
{ nvidia-smi; python3 -c 'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__, torch.cuda.get_device_name())'; } \
  > "$OUT/env.txt" 2>&1
note "device: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1)"

T0=$(date +%s)
for t in test_cuda_kernels test_cuda_scan test_cuda_scan_backward test_cuda_model test_cuda_session test_cuda_sampling test_cuda_backward_ops test_cuda_train test_cuda_lora test_device_select test_cuda_reliability test_cuda_long_drift; do
  want tests || break
  b=$(find_bin $t)
  s=$(date +%s)
  timeout 200 "$b" > "$OUT/$t.log" 2>&1
  rc=$?
  note "$t rc=$rc ($(( $(date +%s) - s )) s) $(grep -E '^\[  (PASSED|FAILED)' "$OUT/$t.log" | tr '\n' ' ')"
  { echo "===== $t (rc=$rc)"; cat "$OUT/$t.log"; } >> "$OUT/tests.txt"  # at most 8 files come back
done

SAN=$OUT/sanitizer.txt
: > "$SAN"
# memcheck over both kernel tests; racecheck over the kernels that share memory (the
# scan phases, the step, the block reductions). One random round each: sanitizers are slow.
san() {  # tool test filter limit
  local s=$(date +%s) rc
  echo "=== $1 $2 $3" >> "$SAN"
  LECTERN_TEST_ROUNDS=1 timeout $4 compute-sanitizer --tool $1 --error-exitcode 3 \
    "$(find_bin $2)" --gtest_filter="$3" >> "$SAN" 2>&1
  rc=$?
  note "compute-sanitizer $1 $2 [$3] rc=$rc ($(( $(date +%s) - s )) s) $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$SAN" | tail -1)"
}
if want sanitizer; then
  san memcheck test_cuda_kernels '*' 60
  san memcheck test_cuda_scan '*' 90
  san memcheck test_cuda_backward_ops '*' 90
  san memcheck test_cuda_scan_backward '*' 90
  san racecheck test_cuda_scan_backward 'CudaScanBackward.Small*' 90
  san racecheck test_cuda_scan 'CudaScan.Chunked*:CudaScan.Step*' 90
  san racecheck test_cuda_scan 'CudaScan.PreprocessAndRotary' 60
  # the prefill walk and its q/k op (the default bf16 prefill path)
  san racecheck test_cuda_scan 'CudaScan.PrefillWalk*:CudaScan.PrefillQk*' 120
  san racecheck test_cuda_kernels 'CudaKernels.EmbeddingAndNorms' 40
  # the fused decode step (decode_mixer.cu, decode_gemv.cu) and the GPU sampler
  san memcheck test_cuda_session 'CudaDecode.*' 120
  san racecheck test_cuda_session 'CudaDecode.*' 120
  san memcheck test_cuda_sampling 'CudaSampling.SampleMatches*' 120
  san racecheck test_cuda_sampling 'CudaSampling.SampleMatches*' 120
fi

B=$OUT/bench.txt
: > "$B"
bench=$(find_bin bench_cuda)
# LECTERN_BENCH_RUNS: bench_cuda argument lists separated by ';' (default below).
if [ -n "${LECTERN_BENCH_RUNS:-}" ]; then
  IFS=';' read -ra RUNS <<< "$LECTERN_BENCH_RUNS"
else
  RUNS=("siso bf16 1048576 5" "mimo bf16 0 5" "siso fp32 0 3")
fi
for args in "${RUNS[@]}"; do
  want bench || break
  s=$(date +%s)
  echo "=== bench_cuda $args" >> "$B"
  timeout 150 "$bench" $args >> "$B" 2>&1
  note "bench_cuda $args rc=$? ($(( $(date +%s) - s )) s)"
done
# ncu (not in the default phases): per-kernel time, DRAM share and warps active for the
# first layer of the 1 × 16,384 SISO bf16 prefill (the scan phases, q/k, gate).
if want ncu; then
  s=$(date +%s)
  timeout 150 ncu --kernel-name regex:'phase|qkRotated|gateKernel|rotaryKernel|segmentSums' \
    --launch-count 8 --metrics gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__warps_active.avg.pct_of_peak_sustained_active \
    "$bench" siso bf16 0 1 > "$OUT/ncu.txt" 2>&1
  note "ncu rc=$? ($(( $(date +%s) - s )) s)"
fi
if want official; then
  s=$(date +%s)
  PYTHONUNBUFFERED=1 timeout 200 python3 "$ROOT/scripts/gpu/bench_official.py" \
    "$ROOT/third_party_ref" 5 > "$OUT/official.txt" 2>&1
  note "official rc=$? ($(( $(date +%s) - s )) s)"
fi
note "total $(( $(date +%s) - T0 )) s"
echo "--- bench"; grep -vE '^$' "$B"; echo "--- official"; tail -8 "$OUT/official.txt" 2>/dev/null
for t in test_cuda_kernels test_cuda_scan test_cuda_scan_backward test_cuda_model test_cuda_session test_cuda_sampling test_cuda_backward_ops test_cuda_train test_cuda_lora test_device_select test_cuda_reliability test_cuda_long_drift; do
  [ -f "$OUT/$t.log" ] && { echo "--- $t failures"; grep -B3 -A6 "Failure\|error:" "$OUT/$t.log" | head -40; rm -f "$OUT/$t.log"; }
done
