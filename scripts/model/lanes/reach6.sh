# shellcheck shell=bash
# Sourced by lanes_on_device.sh. Session 12, call 2, from call 1's f1000 (CARRY/f1000: w100m
# trained 1,500 steps on long16f with --answer-weight 1000; 4k 40/40, 16k 19/20):
#   g1000     the same recipe again (long16f, weight 1000)
#   g3000     long16f, weight 3000
#   g32k      long32f.txt (16-31.5k bytes, 1-8 facts, all asked), 1 x 32,768, weight 1000
#   g32k3000  g32k with weight 3000
#   gpol      long16f + long16m, weight 1000, peak lr 3e-4 (a gentler polish, for bits per byte)
B=$(carried_model f1000)
L16="--seq-len 16384 --batch 2 --window-start-after 30"
L32="--seq-len 32768 --batch 1 --window-start-after 30"
N=${STEPS:-1500}
lane g1000 "$N" "$CORPUS3 $T/long16f.txt" "$L16 --seed 171 --answer-weight 1000" "$B" & P+=($!)
sleep 2
lane g3000 "$N" "$CORPUS3 $T/long16f.txt" "$L16 --seed 172 --answer-weight 3000" "$B" & P+=($!)
sleep 2
lane g32k "$N" "$CORPUS3 $T/long32f.txt" "$L32 --seed 173 --answer-weight 1000" "$B" & P+=($!)
sleep 2
lane g32k3000 "$N" "$CORPUS3 $T/long32f.txt" "$L32 --seed 174 --answer-weight 3000" "$B" & P+=($!)
sleep 2
O_PEAK=$O
O=${O/--lr 1e-3/--lr 3e-4}
lane gpol "$N" "$CORPUS3 $T/long16f.txt $T/long16m.txt" "$L16 --seed 175 --answer-weight 1000" "$B" & P+=($!)
O=$O_PEAK
