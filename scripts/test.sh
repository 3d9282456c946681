#!/usr/bin/env bash
# The full test run, from a fresh machine: set-up, build, every test under CTest, the .deb
# package check, an ASan+UBSan build of the CPU test suite, and short libFuzzer runs.
# .ci/run calls exactly this. Knobs: FUZZ_SECONDS (per target, default 60, as RELIABILITY FUZZ-1 asks), SKIP_SANITIZE=1,
# SKIP_FUZZ=1 for a quicker local loop.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

JOBS=$(nproc)
start=$SECONDS
summary=()
stage() { echo; echo "=== $* (t+$((SECONDS - start))s)"; }
run_ctest() {  # run_ctest BUILD_DIR LABEL [ctest args...]
    local dir=$1 label=$2; shift 2
    local log; log=$(mktemp)
    set +e
    (cd "$dir" && ctest --output-on-failure -j"$JOBS" "$@") 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    set -e
    summary+=("$label: $(grep -E 'tests passed|tests failed' "$log" | tail -1)")
    local passed failed skipped
    passed=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* +Passed' "$log" || true)
    failed=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*(\*\*\*Failed|\*\*\*Exception|\*\*\*Timeout|Not Run)' "$log" || true)
    skipped=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*Skipped' "$log" || true)
    total_passed=$((total_passed + passed)); total_failed=$((total_failed + failed))
    total_skipped=$((total_skipped + skipped))
    rm -f "$log"
    return "$rc"
}
total_passed=0; total_failed=0; total_skipped=0; status=0

stage "build (RelWithDebInfo)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$JOBS"

stage "tests"
run_ctest build "tests" || status=1

stage "package (.deb)"
bash scripts/check_package.sh build || status=1

if [ "${SKIP_SANITIZE:-0}" != 1 ]; then
    stage "ASan+UBSan build of the CPU test suite"
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLECTERN_SANITIZE=address,undefined \
        -DLECTERN_CUDA=OFF -DLECTERN_GUI=OFF -DLECTERN_BENCH=OFF
    cmake --build build-asan -j"$JOBS"
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    run_ctest build-asan "sanitizers" -LE no_sanitize || status=1
fi

if [ "${SKIP_FUZZ:-0}" != 1 ]; then
    stage "libFuzzer (${FUZZ_SECONDS:-60}s per target)"
    CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DLECTERN_FUZZ=ON -DLECTERN_SANITIZE=address,undefined -DLECTERN_CUDA=OFF -DLECTERN_GUI=OFF \
        -DLECTERN_BENCH=OFF
    cmake --build build-fuzz -j"$JOBS" --target lectern_fuzzers
    # One fuzzer per core at a time: each still gets its full FUZZ_SECONDS.
    fuzz_dirs=()
    fuzz_one() {  # fuzz_one FUZZER WORKDIR: the fuzzer's exit status lands in WORKDIR/rc
        local fuzzer=$1 work=$2 seeds=tests/fuzz/corpus/$(basename "$1") rc=0
        # A single allocation over 1 GiB returns NULL, as it does in the PDF worker under its
        # memory limit: Poppler checks those (XRef::reserve on a huge object number) and fails
        # the document; without this the fuzzer calls Poppler's 2.6 GB request an out-of-memory.
        ASAN_OPTIONS="${ASAN_OPTIONS:-}:allocator_may_return_null=1:max_allocation_size_mb=1024" \
        "$fuzzer" -max_total_time="${FUZZ_SECONDS:-60}" -rss_limit_mb=2048 -timeout=30 \
            -artifact_prefix="$work/" "$work/new" ${seeds:+$( [ -d "$seeds" ] && echo "$seeds")} \
            >"$work/log" 2>&1 || rc=$?
        echo "$rc" >"$work/rc"
    }
    for fuzzer in build-fuzz/tests/fuzz/fuzz_*; do
        [ -x "$fuzzer" ] || continue
        work=$(mktemp -d); mkdir "$work/new"; echo "$fuzzer" >"$work/name"
        fuzz_dirs+=("$work")
        fuzz_one "$fuzzer" "$work" &
        while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    done
    wait
    for work in "${fuzz_dirs[@]}"; do
        name=$(basename "$(cat "$work/name")")
        if [ "$(cat "$work/rc")" = 0 ]; then
            echo "$name: $(grep -E '^#[0-9]+.*(DONE|pulse)' "$work/log" | tail -1)"
            total_passed=$((total_passed + 1))
        else
            echo "$name: FAILED; crash input kept under tests/fuzz/artifacts/$name"
            mkdir -p "tests/fuzz/artifacts/$name" && cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* \
                "tests/fuzz/artifacts/$name/" 2>/dev/null || true
            tail -40 "$work/log"
            total_failed=$((total_failed + 1)); status=1
        fi
        rm -rf "$work"
    done
fi

stage "done"
for line in "${summary[@]}"; do echo "$line"; done
echo "total: ${total_passed} passed, ${total_failed} failed, ${total_skipped} skipped"
exit "$status"
