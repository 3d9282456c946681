#!/usr/bin/env bash
# On the GPU machine, in one device call (issue 5): test_cuda_train, then the ~125M training
# step of `lectern-cli train --device cuda` with the per-phase profile (LECTERN_TRAIN_PROFILE)
# in three variants (as before: the sequential scan forward and the sequential, unsplit backward; now:
# the chunked forward and the split backward; the same with TF32 projections), the scan
# backward's own benchmark by row groups, test_cuda_scan_backward, and the official PyTorch + Triton step
# (scripts/gpu/bench_official_train.py, first and alone on the GPU: beside the tests its
# time was inflated; OFFICIAL_AGAIN=1 runs it once more at the end).
#   CARRY=.gpu-carry-t training/cuda/gpu_train_bench.sh OUTDIR [B] [L]
# Narrower calls: TESTS="test_cuda_train test_cuda_lora" (bin/ names) instead of the test list
# and no scan backward benchmark; MEMCHECK="bin:gtest_filter ..." runs compute-sanitizer
# memcheck over those (one random round each); PRECISIONS="bf16 tf32" runs our step once per --precision instead
# of the three variants; VARIANTS="name:VAR=value,... ..." runs the first of them again with
# those environment knobs; RACECHECK="bin:gtest_filter ..." as MEMCHECK with racecheck.
# The carry: bin/{lectern-cli,test_cuda_train,test_cuda_scan_backward,bench_scan_backward}(.xz), lib/ (pack_carry.sh's runtime
# libraries), golden/, m125.json (the config), corpus.txt (any text). Logs: OUTDIR/*.log,
# the short table last on stdout.
set -u
OUT=${1:?usage: gpu_train_bench.sh OUTDIR [B] [L]}
B=${2:-4}
L=${3:-4096}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
C=$ROOT/${CARRY:-.gpu-carry-t}
mkdir -p "$OUT"
for f in "$C"/bin/*.xz "$C"/lib/*.xz; do
  [ -f "$f" ] && [ ! -f "${f%.xz}" ] && xz -dk "$f" && chmod +x "${f%.xz}"
done
export LD_LIBRARY_PATH="$C/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export LECTERN_GOLDEN_DIR=$C/golden OMP_NUM_THREADS=8 PYTHONUNBUFFERED=1
S=$OUT/summary.txt
note() { echo "$*" | tee -a "$S"; }
note "gpu_train_bench $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"

OFF=$OUT/official.log
official() {  # the official step, alone on the GPU (appended to official.log)
  OFFICIAL_AUTOTUNE=${OFFICIAL_AUTOTUNE:-narrow} timeout ${OFFICIAL_TIMEOUT:-210} python3 \
    "$ROOT/scripts/gpu/bench_official_train.py" "$ROOT/third_party_ref" "$B" "$L" 5 bf16 >> "$OFF" 2>&1
  echo "exit $?" >> "$OFF"
}
# The official step runs before the tests, not beside them: run beside them (as until
# 2026-11-23 08:20) it shared the GPU with them: 152-268 ms there, 127-150 ms in calls without tests.
official
note "official: $(grep -E 'official train step|peak memory|MFU|exit' "$OFF" | tr '\n' ' ')"

t() {  # label env... binary: one test run, appended to tests.log
  local label=$1 s=$(date +%s)
  shift
  { echo "===== $label: $*"; env "$@"; echo "rc=$?"; } > "$OUT/t.tmp" 2>&1
  cat "$OUT/t.tmp" >> "$OUT/tests.log"
  note "$label ($(( $(date +%s) - s )) s) $(grep -E '^\[  (PASSED|FAILED)|^rc=' "$OUT/t.tmp" | tr '\n' ' ')"
}
if [ -n "${TESTS:-}" ]; then
  for b in $TESTS; do t "$b" timeout 150 "$C/bin/$b"; done
else
t test_cuda_train timeout 150 "$C/bin/test_cuda_train"
t scan_backward timeout 90 "$C/bin/test_cuda_scan_backward"
t scan_backward_groups1 LECTERN_SCAN_BWD_GROUPS=1 timeout 90 "$C/bin/test_cuda_scan_backward"
t scan_backward_groups2 LECTERN_SCAN_BWD_GROUPS=2 timeout 90 "$C/bin/test_cuda_scan_backward"
fi
CS=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
for m in ${MEMCHECK:-}; do
  t "memcheck ${m}" LECTERN_TEST_ROUNDS=1 timeout 150 "$CS" --tool memcheck --error-exitcode 1 "$C/bin/${m%%:*}" \
    --gtest_filter="${m#*:}"
done
for m in ${RACECHECK:-}; do
  t "racecheck ${m}" LECTERN_TEST_ROUNDS=1 timeout 150 "$CS" --tool racecheck --error-exitcode 1 "$C/bin/${m%%:*}" \
    --gtest_filter="${m#*:}"
done
rm -f "$OUT/t.tmp"

[ -z "${TESTS:-}" ] && for g in 4 2 1; do  # the scan backward alone, by row groups (kernels/train/ssm_scan_backward.cu)
  { echo "===== bench_scan_backward LECTERN_SCAN_BWD_GROUPS=$g"
    LECTERN_SCAN_BWD_GROUPS=$g timeout 60 "$C/bin/bench_scan_backward" 5; } >> "$OUT/bench.log" 2>&1
done
note "$(grep -E '=====|backward' "$OUT/bench.log" | head -12)"
# NCU=1: Nsight Compute's view of one split backward launch (the benchmark shape).
if [ "${NCU:-0}" = 1 ]; then
  NCUB=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null)
  timeout 120 "$NCUB" --kernel-name regex:backwardKernel --launch-count 1 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    --section SchedulerStats --section MemoryWorkloadAnalysis "$C/bin/bench_scan_backward" 1 \
    > "$OUT/ncu.log" 2>&1
  note "ncu rc=$? ($(wc -l < "$OUT/ncu.log") lines)"
fi

ours() {  # name steps env...
  local name=$1 steps=$2
  shift 2
  local s=$(date +%s)
  { echo "===== $name: $*"; env "$@" LECTERN_TRAIN_PROFILE=1 timeout 100 "$C/bin/lectern-cli" train \
      --config "$C/m125.json" --text "$C/corpus.txt" --out "/tmp/t-$name" --steps "$steps" \
      --seq-len "$L" --batch "$B" --warmup 5 --device cuda --eval-every 0 ${PREC:+--precision $PREC}; echo "rc=$?"; } \
    >> "$OUT/ours.log" 2>&1
  note "$name ($(( $(date +%s) - s )) s): $(grep -E 'tok/s|tokens/s|^sum ' "$OUT/ours.log" | tail -2 | tr '\n' ' ')"
}
if [ -n "${PRECISIONS:-}" ]; then
  for p in $PRECISIONS; do PREC=$p ours "$p" 4; done
  # VARIANTS="name:VAR=value,VAR2=value ...": the first precision again with those knobs.
  for v in ${VARIANTS:-}; do
    PREC=${PRECISIONS%% *} ours "${v%%:*}" 4 $(echo "${v#*:}" | tr ',' ' ')
  done
else
ours tf32 4 LECTERN_TRAIN_TF32=1
ours fp32 3 LECTERN_TRAIN_TF32=0
ours before 3 LECTERN_TRAIN_SCAN_FORWARD=sequential LECTERN_SCAN_BWD=sequential LECTERN_SCAN_BWD_GROUPS=1
fi
# OFFICIAL_AGAIN=1: the official step once more after ours (its spread between calls).
if [ "${OFFICIAL_AGAIN:-0}" = 1 ]; then
  official
  note "official again: $(grep -E 'official train step|exit' "$OFF" | tail -2 | tr '\n' ' ')"
fi
cat "$S"
