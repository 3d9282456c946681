# shellcheck shell=bash
# Sourced by lanes_on_device.sh. Session 12, call 3, from call 2's gpol (CARRY/base: 16k
# 48/50, clean bits per byte below w100m's): reach beyond 16k and a gentler finish:
#   h64k     long64f.txt (32-64.5k bytes, 2-10 facts, all asked), 1 x 65,536, weight 3000
#   h64kpol  h64k with peak lr 3e-4
#   h32kpol  long32f + long16f, 1 x 32,768, weight 3000, peak lr 3e-4
#   hpol     long16f + long16m, 2 x 16,384, weight 1000, peak lr 3e-4 (gpol's recipe again)
B=$(carried_model base)
L16="--seq-len 16384 --batch 2 --window-start-after 30"
L32="--seq-len 32768 --batch 1 --window-start-after 30"
N=${STEPS:-1500}
lane h64k "$((N / 2))" "$CORPUS3 $T/long64f.txt" \
  "--seq-len 65536 --batch 1 --window-start-after 30 --seed 181 --answer-weight 3000" "$B" & P+=($!)
sleep 2
O_PEAK=$O
O=${O/--lr 1e-3/--lr 3e-4}
lane h64kpol "$((N / 2))" "$CORPUS3 $T/long64f.txt" \
  "--seq-len 65536 --batch 1 --window-start-after 30 --seed 182 --answer-weight 3000" "$B" & P+=($!)
sleep 2
lane h32kpol "$N" "$CORPUS3 $T/long32f.txt $T/long16f.txt" "$L32 --seed 183 --answer-weight 3000" "$B" & P+=($!)
sleep 2
lane hpol "$N" "$CORPUS3 $T/long16f.txt $T/long16m.txt" "$L16 --seed 184 --answer-weight 1000" "$B" & P+=($!)
O=$O_PEAK
