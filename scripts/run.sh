#!/usr/bin/env bash
# The main job, from a fresh machine: set-up, build, then the desktop application where a
# display is available, else lectern-cli on the bundled sample documents and model (ingest,
# status, search, prefill, ask, surprise) in a scratch store. Set LECTERN_STORE to keep the
# store somewhere else.
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

# The bundled model: read the contract into its state, ask it a question (answered from the
# saved state, with passages found by search), and show where the text surprises it.
contract=$("$cli" --store "$store" documents --collection samples |
    awk '/services-agreement\.pdf$/ {print $1; exit}')
echo "== prefill: the contract (document $contract) and the collection"
"$cli" --store "$store" prefill --collection samples
echo "== ask the contract"
"$cli" --store "$store" ask "How many days of notice does termination require?" \
    --collection samples --document "$contract" --max-tokens 48
echo "== surprise map of the contract"
"$cli" --store "$store" surprise --collection samples --document "$contract" --top 3
