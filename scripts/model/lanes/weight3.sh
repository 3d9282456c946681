# shellcheck shell=bash
# Sourced by lanes_on_device.sh. Session 11, call 3, from the bundled m12curr: the answer
# bytes weighted in the gradient (`lectern-cli train --answer-weight`), as calls 1-2 showed
# the lookup heads' decay going back to ~1k-token memory under the plain next-token loss:
#   w20      long16.txt (m12's: one fact, two with odds 1/4), weight 20, 2 x 16,384 aligned
#   w20m     long16m.txt (1-6 facts, all asked), weight 20
#   w100m    long16m.txt, weight 100
#   w20s10   w20m from the bundled weights with four layer-4 lookup heads' dt / 10
#   w20m4k   long4m.txt (1-3.9k bytes, 2-6 facts, all asked), weight 20, 8 x 4,096 aligned
S=$ROOT/resources/models/default
python3 "$ROOT/scripts/model/slow_heads.py" --model "$S" --out /tmp/b-s10 \
  --heads 4:3,5,7,13 --factor 10 > /dev/null
L16="--seq-len 16384 --batch 2 --window-start-after 30 --seed 141"
N=${STEPS:-1800}
lane w20 "$N" "$CORPUS3 $T/long16.txt" "$L16 --answer-weight 20" "$S" & P+=($!)
sleep 2
lane w20m "$N" "$CORPUS3 $T/long16m.txt" "$L16 --answer-weight 20" "$S" & P+=($!)
sleep 2
lane w100m "$N" "$CORPUS3 $T/long16m.txt" "$L16 --answer-weight 100" "$S" & P+=($!)
sleep 2
lane w20s10 "$N" "$CORPUS3 $T/long16m.txt" "$L16 --answer-weight 20" /tmp/b-s10 & P+=($!)
sleep 2
lane w20m4k "$N" "$CORPUS3 $T/long4m.txt" \
  "--seq-len 4096 --batch 8 --window-start-after 30 --seed 142 --answer-weight 20" "$S" & P+=($!)
