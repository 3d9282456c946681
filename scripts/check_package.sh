#!/usr/bin/env bash
# Builds the .deb from a build folder and checks it: it unpacks into a scratch root and the
# unpacked lectern-cli runs (--version) and loads the bundled model. Usage: scripts/check_package.sh BUILD_DIR
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
# The bundled model ships with it and loads from where the installed binary looks for it.
model="$root/usr/share/lectern/models/default"
test -f "$model/config.json" && test -f "$model/tokenizer.json"
"$root/usr/bin/lectern-cli" model info "$model" >/dev/null
if [ -x "$root/usr/bin/lectern" ]; then
    test -f "$root"/usr/share/applications/*.desktop
fi
echo "package check: $(basename "$deb") installs and runs"
