# shellcheck shell=bash
# Sourced by the *_on_device.sh scripts (the GPU machine). unpack_carry CARRY unpacks a
# carry of pack_recall_carry.sh: the libraries (some xz-compressed) into LIB, the corpus
# into CORPUS (CARRY/corpus/*.txt.xz into train/, *.jsonl.xz into valid/) and the
# binary; sets LIB, CORPUS and CLI, exports LD_LIBRARY_PATH and OMP_NUM_THREADS.
unpack_carry() {
  local c=$1 f
  LIB=/tmp/rlib CORPUS=/tmp/rcorpus
  mkdir -p $LIB $CORPUS
  cp "$c"/lib/*.so* $LIB/ 2> /dev/null
  for f in "$c"/lib/*.xz; do xz -dc "$f" > "$LIB/$(basename "$f" .xz)" & done
  tar -C $CORPUS -xzf "$c/corpus/train.tar.gz"
  for f in "$c"/corpus/*.txt.xz; do
    [ -e "$f" ] && xz -dc "$f" > "$CORPUS/train/$(basename "$f" .xz)" &
  done
  for f in "$c"/corpus/*.jsonl.xz; do
    [ -e "$f" ] && xz -dc "$f" > "$CORPUS/valid/$(basename "$f" .xz)" &
  done
  CLI="$c/bin/lectern-cli"
  if [ -f "$CLI.xz" ]; then
    xz -dc "$CLI.xz" > /tmp/lectern-cli && chmod +x /tmp/lectern-cli
    CLI=/tmp/lectern-cli
  fi
  wait
  export LD_LIBRARY_PATH=$LIB OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
}
