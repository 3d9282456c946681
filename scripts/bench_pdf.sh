#!/usr/bin/env bash
# PDF extraction benchmark (issue 2): pages/s of Lectern's PDF extractor (worker processes)
# against pdftotext on the same real PDFs that Debian packages ship, with one and two workers.
# Prints wall-clock and CPU seconds for each; the best of RUNS runs is kept, because other work
# on a shared machine inflates wall-clock time. It asserts nothing; results go in
# NOTES-performance.md ("PDF extraction").
#   scripts/bench_pdf.sh [BUILD_DIR]      (env: RUNS=3 REPEAT=3)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-pdf}
bench=$build/tests/ingest/pdf/bench_pdf_extract
runs=${RUNS:-3}
repeat=${REPEAT:-3}
[ -x "$bench" ] || { echo "bench_pdf: build $bench first (ninja -C $build bench_pdf_extract)"; exit 1; }
command -v pdftotext >/dev/null || { echo "bench_pdf: pdftotext missing (poppler-utils)"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
files=()
for f in /usr/share/doc/why3-doc-pdf/manual.pdf /usr/share/doc/libtasn1-doc/libtasn1.pdf \
         /usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf; do
  [ -f "$f" ] && files+=("$f")
done
if [ -f /usr/share/doc/docbook-xsl-doc-pdf/doc/reference.pdf.gz ]; then
  zcat /usr/share/doc/docbook-xsl-doc-pdf/doc/reference.pdf.gz > "$tmp/docbook-reference.pdf"
  files+=("$tmp/docbook-reference.pdf")
fi
[ ${#files[@]} -gt 0 ] || { echo "bench_pdf: no Debian PDFs (run scripts/setup.sh)"; exit 1; }

pages=0
for f in "${files[@]}"; do
  pages=$((pages + $(pdfinfo "$f" | awk '/^Pages:/ {print $2}')))
done
pages=$((pages * repeat))
list=()
for ((i = 0; i < repeat; i++)); do list+=("${files[@]}"); done

# Runs "$@" and prints "wall cpu" seconds (cpu = user + sys of the command and its children).
measure() {
  local out
  out=$( { TIMEFORMAT='%R %U %S'; time "$@" >/dev/null 2>&1; } 2>&1 )
  awk '{printf "%.3f %.3f\n", $1, $2 + $3}' <<<"$out"
}
best() {  # best wall (and its cpu) over $runs runs
  local b="" r
  for ((k = 0; k < runs; k++)); do
    r=$(measure "$@")
    if [ -z "$b" ] || awk -v a="${r%% *}" -v c="${b%% *}" 'BEGIN{exit !(a < c)}'; then b=$r; fi
  done
  echo "$b"
}
pdftotext_all() { for f in "${list[@]}"; do pdftotext "$f" /dev/null; done; }
pdftotext_two() { printf '%s\0' "${list[@]}" | xargs -0 -P2 -I{} pdftotext {} /dev/null; }

cat /dev/null "${files[@]}" >/dev/null  # page cache
echo "bench_pdf: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "bench_pdf: load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench_pdf: ${#files[@]} PDFs x $repeat = $pages pages; best of $runs runs"
printf '%-28s %9s %9s %10s %12s\n' "config" "wall_s" "cpu_s" "pages/s" "pages/cpu_s"
report() {
  local name=$1 wall=${2%% *} cpu=${2##* }
  printf '%-28s %9s %9s %10.1f %12.1f\n' "$name" "$wall" "$cpu" \
    "$(awk -v p=$pages -v w=$wall 'BEGIN{print p / w}')" "$(awk -v p=$pages -v c=$cpu 'BEGIN{print p / c}')"
}
t_pdftotext=$(best pdftotext_all)
report "pdftotext (1 process)" "$t_pdftotext"
report "pdftotext (2 in parallel)" "$(best pdftotext_two)"
t_one=$(best "$bench" --workers 1 "${list[@]}")
report "lectern (1 worker)" "$t_one"
t_two=$(best "$bench" --workers 2 "${list[@]}")
report "lectern (2 workers)" "$t_two"
awk -v a="${t_pdftotext%% *}" -v b="${t_two%% *}" -v c="${t_pdftotext##* }" -v d="${t_one##* }" \
  'BEGIN{printf "bench_pdf: 2 workers vs pdftotext wall-clock: %.2fx (goal >= 1.6x); per core (cpu): %.2fx (goal >= 1.0x)\n", a / b, c / d}'
echo "bench_pdf: load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
