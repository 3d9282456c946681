# shellcheck shell=bash
# Sourced by the *_on_device.sh scripts (the GPU machine). unpack_carry CARRY unpacks a
# carry of pack_recall_carry.sh: the libraries (some xz-compressed) into LIB, the corpus
# into CORPUS (CARRY/corpus/*.txt.xz into train/, *.jsonl.xz into valid/) and the
# binary; sets LIB, CORPUS and CLI, exports LD_LIBRARY_PATH and OMP_NUM_THREADS.
unpack_carry() {
  local c=$1 f
  LIB=/tmp/rlib CORPUS=/tmp/rcorpus CLI="$c/bin/lectern-cli"
  [ -f "$CLI.xz" ] && CLI=/tmp/lectern-cli
  # unpacked already (a driver that runs several sweeps unpacks once, before they start)
  if [ -f $LIB/.unpacked ]; then
    export LD_LIBRARY_PATH=$LIB OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
    return
  fi
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
  if [ -f "$c/bin/lectern-cli.xz" ]; then
    xz -dc "$c/bin/lectern-cli.xz" > $CLI && chmod +x $CLI
  fi
  wait
  touch $LIB/.unpacked
  export LD_LIBRARY_PATH=$LIB OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
}
