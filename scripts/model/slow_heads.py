#!/usr/bin/env python3
"""Slow chosen SSM heads down: a head's state decays by exp(-|A| dt) a token, and a fact can
be recalled only while that decay, summed from the fact to the question, stays small
(`lectern-cli model memory` prints it per head). dt = softplus(dd_dt + dt_bias), so moving
dt_bias to softplus^-1(softplus(dt_bias) / FACTOR) divides a head's background dt (where
dt is small, the exponential regime) by FACTOR: its decay over a span shrinks FACTOR times,
while large data-dependent dt (the writes the head chose) lose only ln(FACTOR) before the
softplus. The gradient then reaches facts FACTOR times further back, which training alone
moves slowly (Adam moves dt_bias by ~lr a step). Stdlib only.

    slow_heads.py --model DIR --out DIR --heads 4:3,5,7,13 [--heads 3:2,8] --factor 10
"""
import argparse
import json
import math
import shutil
import struct
import sys
from array import array
from pathlib import Path


def softplus(x):
    return x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))


def softplus_inverse(y):
    return y + math.log(-math.expm1(-y))  # log(exp(y) - 1), stable for small and large y


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="model folder (config.json, model.safetensors)")
    ap.add_argument("--out", required=True, help="output model folder (created)")
    ap.add_argument("--heads", action="append", required=True,
                    help="LAYER:HEAD,HEAD,... (repeatable)")
    ap.add_argument("--factor", type=float, default=10.0, help="divide those heads' dt by this")
    a = ap.parse_args()
    if a.factor <= 0:
        sys.exit("slow_heads.py: --factor must be positive")
    src, out = Path(a.model), Path(a.out)
    data = bytearray((src / "model.safetensors").read_bytes())
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    for spec in a.heads:
        layer, _, heads = spec.partition(":")
        name = f"backbone.layers.{int(layer)}.mixer.dt_bias"
        if name not in header or header[name]["dtype"] != "F32":
            sys.exit(f"slow_heads.py: {src}: no fp32 tensor {name}")
        lo, hi = header[name]["data_offsets"]
        bias = array("f")
        bias.frombytes(bytes(data[base + lo:base + hi]))
        for h in (int(x) for x in heads.split(",")):
            if not 0 <= h < len(bias):
                sys.exit(f"slow_heads.py: layer {layer} has {len(bias)} heads, not {h + 1}")
            old = bias[h]
            bias[h] = softplus_inverse(softplus(old) / a.factor)
            print(f"layer {layer} head {h}: dt_bias {old:.4f} -> {bias[h]:.4f} "
                  f"(softplus {softplus(old):.3g} -> {softplus(bias[h]):.3g})")
        data[base + lo:base + hi] = bias.tobytes()
    out.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and f.name != "model.safetensors":
            shutil.copy2(f, out / f.name)
    (out / "model.safetensors").write_bytes(bytes(data))


if __name__ == "__main__":
    main()
