#!/usr/bin/env bash
# The main job, from a fresh machine: set-up, build, then the desktop application where a
# display is available, else lectern-cli on the bundled sample documents (ingest, status,
# search) in a scratch store. Set LECTERN_STORE to keep the store somewhere else.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -x build/app/lectern ]; then
    exec build/app/lectern "$@"
fi

cli=build/app/lectern-cli
store=${LECTERN_STORE:-$(mktemp -d /tmp/lectern-demo.XXXXXX)}
echo "== store: $store"
"$cli" --store "$store" ingest resources/samples --collection samples
"$cli" --store "$store" status --collection samples
for query in "termination" "indemnify" "timeout"; do
    echo "== search: $query"
    "$cli" --store "$store" search "$query" --collection samples --limit 3
done
