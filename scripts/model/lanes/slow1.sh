# shellcheck shell=bash
# Sourced by lanes_on_device.sh (its comment says what is set). Session 11, call 1, from the
# bundled m12curr, 2 windows of 16,384 a step aligned to the long examples, the corpus mix
# of reach_on_device.sh (legal x3, short one-fact examples) plus 7 MB of long examples:
#   ctrl      long16.txt: 1-16k bytes, one fact (two with odds 1/4), one question (m12's)
#   multi     long16m.txt: the same lengths, 1-6 facts, every one asked (--facts 1-6 --ask-all)
#   s3multi   multi's data from the bundled weights with layer 4's nine ~1k-memory heads
#             slowed 3x (slow_heads.py; `lectern-cli model memory` picked them)
#   s10multi  multi's data with four of those heads slowed 10x
S=$ROOT/resources/models/default
python3 "$ROOT/scripts/model/slow_heads.py" --model "$S" --out /tmp/b-s3all \
  --heads 4:1,3,4,5,6,7,11,13,15 --factor 3
python3 "$ROOT/scripts/model/slow_heads.py" --model "$S" --out /tmp/b-s10 --heads 4:3,5,7,13 --factor 10
L16="--seq-len ${SEQ:-16384} --batch 2 --window-start-after 30"
N=${STEPS:-1200}
lane ctrl "$N" "$CORPUS3 $T/long16.txt" "$L16 --seed 121" "$S" & P+=($!)
sleep 2
lane multi "$N" "$CORPUS3 $T/long16m.txt" "$L16 --seed 121" "$S" & P+=($!)
sleep 2
lane s3multi "$N" "$CORPUS3 $T/long16m.txt" "$L16 --seed 121" /tmp/b-s3all & P+=($!)
sleep 2
lane s10multi "$N" "$CORPUS3 $T/long16m.txt" "$L16 --seed 121" /tmp/b-s10 & P+=($!)
