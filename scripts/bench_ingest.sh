#!/usr/bin/env bash
# Ingest and search benchmark (a benchmark, not a test: it prints numbers, asserts none).
# Ingests a large real source tree into a scratch store and reports files/s and MB/s,
# then search latency two ways: in-process (tests/store/bench_search: Store::search alone,
# wall and CPU time) and through `lectern-cli search` (process start included).
#
# Tree: the Linux kernel from Debian's linux-source package when installed (or with
# INSTALL_LINUX_SOURCE=1), extracted once under $BENCH_DIR; otherwise /usr/include plus
# /usr/share/doc (say which in the notes). Override with TREE=/some/dir.
# Usage: scripts/bench_ingest.sh [build-dir]      (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
cli=$build/app/lectern-cli
[ -x "$cli" ] || { echo "no $cli: build first (cmake --build $build --target lectern-cli)"; exit 1; }
BENCH_DIR=${BENCH_DIR:-/tmp/lectern-bench}
mkdir -p "$BENCH_DIR"

if [ -z "${TREE:-}" ]; then
    if [ "${INSTALL_LINUX_SOURCE:-0}" = 1 ] && ! ls /usr/src/linux-source-*.tar.xz >/dev/null 2>&1; then
        apt-get install -y -q --no-install-recommends linux-source >/dev/null
    fi
    tarball=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort | tail -1 || true)
    if [ -n "$tarball" ]; then
        name=$(basename "$tarball" .tar.xz)
        if [ ! -d "$BENCH_DIR/$name" ]; then
            echo "extracting $tarball into $BENCH_DIR"
            tar -C "$BENCH_DIR" -xf "$tarball"
        fi
        TREE="$BENCH_DIR/$name"
    fi
fi
trees=(${TREE:-/usr/include /usr/share/doc})

store="$BENCH_DIR/store"
if [ "${SEARCH_ONLY:-0}" != 1 ]; then
rm -rf "$store"
echo "== tree: ${trees[*]}"
echo "== files: $(find "${trees[@]}" -type f | wc -l), bytes: $(du -sbc "${trees[@]}" | tail -1 | cut -f1)"
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== date: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"

# CPU time of each thread of process $1, summed by thread name (the pipeline names its
# threads lectern-writer, lectern-extract, lectern-walk): /proc is read every 0.2 s and the
# last reading of each thread kept, so a thread's final 0.2 s may be missed.
thread_cpu() {
    local pid=$1 tick t tid line name f
    local -A ticks names
    tick=$(getconf CLK_TCK)
    while [ -d "/proc/$pid" ]; do
        for t in /proc/"$pid"/task/*; do
            tid=${t##*/}
            { read -r line < "$t/stat" && read -r name < "$t/comm"; } 2>/dev/null || continue
            read -r -a f <<< "${line##*) }"  # fields from 3 (state) on: utime, stime = 14, 15
            [ "${#f[@]}" -gt 13 ] || continue
            ticks[$tid]=$(( f[11] + f[12] ))
            names[$tid]=$name
        done
        sleep 0.2
    done
    local -A sum
    for tid in "${!ticks[@]}"; do
        sum[${names[$tid]}]=$(( ${sum[${names[$tid]}]:-0} + ticks[$tid] ))
    done
    for t in "${!sum[@]}"; do
        echo "== thread cpu: $t $(echo "scale=2; ${sum[$t]} / $tick" | bc) s (all threads of that name)"
    done | sort
    # The busiest threads one by one (a build without thread names shows only lectern-cli;
    # its busiest thread is the writer).
    for tid in "${!ticks[@]}"; do
        echo "${ticks[$tid]} ${names[$tid]} $tid"
    done | sort -rn | head -4 | while read -r n name tid; do
        echo "== thread cpu: thread $tid ($name) $(echo "scale=2; $n / $tick" | bc) s"
    done
}

start=$(date +%s.%N)
set +e
# CPU time too: on the shared box wall time mostly measures the queue for a core. The
# writer thread's CPU time is the number that caps throughput (files per writer CPU s).
/usr/bin/time -f "== ingest cpu: %U s user, %S s sys, peak RSS %M KB" \
    "$cli" --store "$store" ingest "${trees[@]}" --collection bench &
timer=$!
cli_pid=
for _ in $(seq 50); do
    cli_pid=$(pgrep -P "$timer" || true)
    [ -n "$cli_pid" ] && break
    sleep 0.1
done
[ -n "$cli_pid" ] && thread_cpu "$cli_pid" > "$BENCH_DIR/thread_cpu.txt"
wait "$timer"
rc=$?
set -e
cat "$BENCH_DIR/thread_cpu.txt" 2>/dev/null || true
end=$(date +%s.%N)
echo "== ingest exit code $rc (3 = finished, some files failed), wall $(echo "$end - $start" | bc) s"
echo "== store size: $(du -sh "$store" | cut -f1)"

# Second run: everything unchanged (the incremental path).
start=$(date +%s.%N)
"$cli" --store "$store" ingest "${trees[@]}" --collection bench >/dev/null || true
end=$(date +%s.%N)
echo "== unchanged re-run wall $(echo "$end - $start" | bc) s"
fi  # SEARCH_ONLY=1 reuses the store of an earlier run

if [ -x "$build/tests/store/bench_search" ]; then
    "$build/tests/store/bench_search" "$store" bench --rounds 3
else
    echo "(no $build/tests/store/bench_search: build it for in-process search times)"
fi

queries=(timeout mutex "memory barrier" spinlock interrupt license printf "error handling"
         allocate socket deadlock "page fault" scheduler buffer overflow checksum)
times=()
for round in 1 2 3; do
    for q in "${queries[@]}"; do
        s=$(date +%s%N)
        "$cli" --store "$store" search "$q" --collection bench --limit 10 >/dev/null
        e=$(date +%s%N)
        times+=($(( (e - s) / 1000 )))
    done
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
n=${#sorted[@]}
echo "== search: ${n} runs of ${#queries[@]} queries (process start included)"
echo "   median $(echo "scale=1; ${sorted[$((n / 2))]} / 1000" | bc) ms," \
     "p90 $(echo "scale=1; ${sorted[$((n * 9 / 10))]} / 1000" | bc) ms," \
     "max $(echo "scale=1; ${sorted[$((n - 1))]} / 1000" | bc) ms"
