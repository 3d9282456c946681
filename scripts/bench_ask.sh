#!/usr/bin/env bash
# Issue 7's figures: time to the first answer token of a follow-up question at several
# document lengths, with the state resident, restored from a state file, and after a full
# re-read (tests/bench/bench_ask.cpp; engine only, so it runs on the GPU machine too).
#
#   scripts/bench_ask.sh OUTDIR [cpu|cuda] [LENGTHS] [RUNS]
#   scripts/bench_ask.sh --pack        # here: build bench_ask for the GPU machine into
#                                      # .gpu-carry/bin (beside scripts/gpu/pack_carry.sh's)
#
# Defaults: cpu = the bundled model's likely size (byte vocabulary, d_model 512, 8 layers),
# lengths 1024,16384; cuda = issue 4's benchmark configuration (d_model 2048, 48 layers,
# vocab 50280), lengths 1024,16384,262144,1048576. Re-reads are repeated up to 16,384
# tokens and run once above. Writes OUTDIR/bench_ask_<device>.json and .log.
# Binary: $BENCH_ASK, else .gpu-carry/bin/bench_ask, else the first build dir that has one,
# else it is built in build-bench-ask (engine only: no Qt, no SQLite needed).
# BENCH_ASK_ARGS: more bench_ask arguments (e.g. "--precision fp32": the GPU's default is bf16).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

if [ "${1:-}" = "--pack" ]; then
  cmake -S . -B build-cuda -G Ninja -DLECTERN_INGEST=OFF -DLECTERN_GUI=OFF -DLECTERN_STATIC_RUNTIME=ON > /dev/null
  ninja -C build-cuda -j2 bench_ask
  mkdir -p .gpu-carry/bin
  strip -o .gpu-carry/bin/bench_ask build-cuda/tests/bench/bench_ask
  echo "packed .gpu-carry/bin/bench_ask (carry .gpu-carry; libraries come from pack_carry.sh)"
  exit 0
fi

OUT=${1:?usage: bench_ask.sh OUTDIR [cpu|cuda] [LENGTHS] [RUNS]  |  bench_ask.sh --pack}
DEVICE=${2:-cpu}
case "$DEVICE" in
  cpu) PRESET=cpu; LENGTHS=${3:-1024,16384} ;;
  cuda) PRESET=gpu; LENGTHS=${3:-1024,16384,262144,1048576} ;;
  *) echo "device must be cpu or cuda" >&2; exit 2 ;;
esac
RUNS=${4:-5}
mkdir -p "$OUT"

BIN=${BENCH_ASK:-}
if [ -z "$BIN" ]; then
  for b in .gpu-carry/bin/bench_ask build-cuda/tests/bench/bench_ask build-h2/tests/bench/bench_ask \
           build-main/tests/bench/bench_ask build-bench-ask/tests/bench/bench_ask; do
    if [ -x "$b" ]; then BIN=$b; break; fi
  done
fi
if [ -z "$BIN" ]; then
  cmake -S . -B build-bench-ask -G Ninja -DLECTERN_INGEST=OFF -DLECTERN_GUI=OFF > /dev/null
  cmake --build build-bench-ask -j"$(nproc)" --target bench_ask
  BIN=build-bench-ask/tests/bench/bench_ask
fi
# Libraries carried by scripts/gpu/pack_carry.sh (OpenBLAS is carried xz-compressed).
CARRY=$ROOT/.gpu-carry
if [ -f "$CARRY/lib/libopenblas.so.0.xz" ] && [ ! -f "$CARRY/lib/libopenblas.so.0" ]; then
  xz -dk "$CARRY/lib/libopenblas.so.0.xz"
fi
export LD_LIBRARY_PATH="$CARRY/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-ask.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
{
  echo "bench_ask $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname): $DEVICE, lengths $LENGTHS, runs $RUNS"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ "$DEVICE" = cuda ]; then nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1 || true; fi
  echo "command: $BIN --device $DEVICE --preset $PRESET --lengths $LENGTHS --runs $RUNS --reread-runs 3 --reread-max-tokens 16384 ${BENCH_ASK_ARGS:-}"
} | tee "$OUT/bench_ask_$DEVICE.log"
"$BIN" --device "$DEVICE" --preset "$PRESET" --lengths "$LENGTHS" --runs "$RUNS" --reread-runs 3 \
  --reread-max-tokens 16384 --work-dir "$WORK" --json "$OUT/bench_ask_$DEVICE.json" \
  ${BENCH_ASK_ARGS:-} 2>&1 >/dev/null | tee -a "$OUT/bench_ask_$DEVICE.log"
echo "wrote $OUT/bench_ask_$DEVICE.json"
