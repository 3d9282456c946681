#!/usr/bin/env bash
# Builds the .deb from a build folder and checks it: it unpacks into a scratch root and the
# unpacked lectern-cli runs (--version). Usage: scripts/check_package.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
rm -rf "$build/package"
(cd "$build" && cpack -G DEB >/dev/null)
deb=$(ls "$build"/package/*.deb | head -1)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg-deb --info "$deb" | sed -n '/Package:/,/Description:/p'
dpkg -x "$deb" "$root"
test -x "$root/usr/bin/lectern-cli"
"$root/usr/bin/lectern-cli" --version
echo "package check: $(basename "$deb") installs and runs"
