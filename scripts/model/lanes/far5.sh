# shellcheck shell=bash
# Sourced by lanes_on_device.sh. Session 12, call 1, from the bundled w100m (1k 100/100,
# 4k 37/40, 16k 8/20; at 16k 2 of 12 right when the fact is 8-16k tokens back): heavier
# answer weights and long examples whose facts lie far back:
#   c300     long16m.txt (1-16k bytes, 1-6 facts, all asked), --answer-weight 300
#   f300     long16f.txt (11.5-15.7k bytes, 1-6 facts, all asked: ~40% of facts 8k+ back), 300
#   f1000    long16f.txt, --answer-weight 1000
#   s3f300   f300 from w100m with the nine layer-4 lookup heads' dt / 3
#   mf300    long16m.txt + long16f.txt x2 (long examples ~45% of windows), 300
S=$ROOT/resources/models/default
python3 "$ROOT/scripts/model/slow_heads.py" --model "$S" --out /tmp/b-s3all \
  --heads 4:1,3,4,5,6,7,11,13,15 --factor 3 > /dev/null
cp $T/long16f.txt $T/long16f-w2.txt
L16="--seq-len 16384 --batch 2 --window-start-after 30"
N=${STEPS:-1500}
lane c300 "$N" "$CORPUS3 $T/long16m.txt" "$L16 --seed 161 --answer-weight 300" "$S" & P+=($!)
sleep 2
lane f300 "$N" "$CORPUS3 $T/long16f.txt" "$L16 --seed 162 --answer-weight 300" "$S" & P+=($!)
sleep 2
lane f1000 "$N" "$CORPUS3 $T/long16f.txt" "$L16 --seed 163 --answer-weight 1000" "$S" & P+=($!)
sleep 2
lane s3f300 "$N" "$CORPUS3 $T/long16f.txt" "$L16 --seed 164 --answer-weight 300" /tmp/b-s3all & P+=($!)
sleep 2
lane mf300 "$N" "$CORPUS3 $T/long16m.txt $T/long16f.txt $T/long16f-w2.txt" \
  "$L16 --seed 165 --answer-weight 300" "$S" & P+=($!)
