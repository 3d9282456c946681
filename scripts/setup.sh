#!/usr/bin/env bash
# Installs every Debian package Lectern needs to build, test and package.
# Idempotent: safe to run again; skips the install when everything is present.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  clang clang-format libclang-rt-14-dev libomp-dev llvm
  qt6-base-dev qt6-base-dev-tools qt6-charts-dev qt6-svg-dev libqt6opengl6-dev
  libgl-dev libxkbcommon-dev
  libpoppler-qt6-dev libpoppler-private-dev poppler-utils qpdf
  why3-doc-pdf libtasn1-doc docbook-xsl-doc-pdf
  libicu-dev libsqlite3-dev sqlite3 libxxhash-dev
  libtesseract-dev tesseract-ocr tesseract-ocr-eng libleptonica-dev
  libgit2-dev libgmime-3.0-dev libzip-dev zipcmp zipmerge ziptool
  libcli11-dev nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
  libopenblas-dev
  xvfb xauth fonts-dejavu-core
  file xz-utils bc time
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
