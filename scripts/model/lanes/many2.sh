# shellcheck shell=bash
# Sourced by lanes_on_device.sh. Session 11, call 2, from the bundled m12curr: more answers
# per window than call 1 (whose lanes stayed at ~1k reach), long examples x3 in the mix:
#   many      long16many.txt (1-16k bytes, 4-12 facts, all asked), 2 x 16,384 aligned
#   many4k    long4m.txt (1-3.9k bytes, 2-6 facts, all asked), 8 x 4,096 aligned: 4k first
#   s10many   many from the bundled weights with four layer-4 lookup heads' dt / 10
#   s3many    many with the nine layer-4 lookup heads' dt / 3
S=$ROOT/resources/models/default
python3 "$ROOT/scripts/model/slow_heads.py" --model "$S" --out /tmp/b-s3all \
  --heads 4:1,3,4,5,6,7,11,13,15 --factor 3 > /dev/null
python3 "$ROOT/scripts/model/slow_heads.py" --model "$S" --out /tmp/b-s10 \
  --heads 4:3,5,7,13 --factor 10 > /dev/null
for f in long16many long4m; do for i in 2 3; do cp $T/$f.txt $T/$f-w$i.txt; done; done
MANY="$CORPUS3 $T/long16many.txt $T/long16many-w2.txt $T/long16many-w3.txt"
L16="--seq-len 16384 --batch 2 --window-start-after 30"
N=${STEPS:-1800}
lane many "$N" "$MANY" "$L16 --seed 131" "$S" & P+=($!)
sleep 2
lane many4k "$N" "$CORPUS3 $T/long4m.txt $T/long4m-w2.txt $T/long4m-w3.txt" \
  "--seq-len 4096 --batch 8 --window-start-after 30 --seed 132" "$S" & P+=($!)
sleep 2
lane s10many "$N" "$MANY" "$L16 --seed 131" /tmp/b-s10 & P+=($!)
sleep 2
lane s3many "$N" "$MANY" "$L16 --seed 131" /tmp/b-s3all & P+=($!)
