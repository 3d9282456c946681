#!/usr/bin/env bash
# Screenshots of every panel of the desktop application, for checking by eye that nothing
# is blank, clipped or overlapping:  bash scripts/screenshots.sh OUTDIR [BUILD_DIR]
# Runs `lectern --screenshots OUTDIR` under Xvfb (1600x1000, 24-bit) on a scratch store and
# scratch settings (the user's own are untouched): the GUI ingests the bundled samples
# itself, then raises each panel in turn and writes OUTDIR/<panel>.png.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: screenshots.sh OUTDIR [BUILD_DIR]}
build=${2:-build}
[ -x "$build/app/lectern" ] || { echo "screenshots.sh: $build/app/lectern is not built" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
scratch=$(mktemp -d /tmp/lectern-shots.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/models" "$scratch/config"
export XDG_CONFIG_HOME="$scratch/config"
xvfb-run -a -s "-screen 0 1600x1000x24" \
    "$build/app/lectern" --store "$scratch/store" --models "$scratch/models" \
    --collection samples --add "$PWD/resources/samples" --screenshots "$out"
ls -l "$out"/*.png
