# shellcheck shell=bash
# Sourced by lanes_on_device.sh. Session 11, call 4 (the budget's last ~4 minutes): call 3's
# best lane w100m (CARRY/w100m, 1k 100/100, 4k 37/40, 16k 6/10 here) trained on, alone:
#   c100   the same material and weight (long16m.txt, --answer-weight 100)
#   c300   the same with --answer-weight 300
B=$(carried_model w100m)
L16="--seq-len 16384 --batch 2 --window-start-after 30 --seed 151"
N=${STEPS:-700}
lane c100 "$N" "$CORPUS3 $T/long16m.txt" "$L16 --answer-weight 100" "$B" & P+=($!)
sleep 2
lane c300 "$N" "$CORPUS3 $T/long16m.txt" "$L16 --answer-weight 300" "$B" & P+=($!)
