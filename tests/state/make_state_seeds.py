#!/usr/bin/env python3
# Writes the fuzz_state_file seeds: a valid state file for the target's fixed expectation
# (identity 0x1234abcd5678ef00, 2 layers, H 2, P 4, N 8, R 2, A 2, 16 logits, position 42)
# and damaged variants (truncated, flipped payload byte, other model, bad version).
import os, struct, zlib

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "corpus",
                    "fuzz_state_file")
L, H, P, N, R, A, V = 2, 2, 4, 8, 2, 2, 16
floats = L * (H * A + H * P * N + R * H * N + H * P) + V
payload = struct.pack("<%df" % floats, *[((i * 37) % 101 - 50) / 25.0 for i in range(floats)])

def encode(identity=0x1234ABCD5678EF00, version=1, position=42):
    h = b"LECTSTAT" + struct.pack("<IIQq6IIIQ", version, 1, identity, position, L, H, P, N, R, A,
                                  V, 65536, len(payload))
    h += struct.pack("<I", zlib.crc32(h))
    crcs = b"".join(struct.pack("<I", zlib.crc32(payload[o:o + 65536]))
                    for o in range(0, len(payload), 65536))
    return h + payload + crcs

good = encode()
seeds = {
    "valid.state": good,
    "truncated.state": good[: len(good) // 2],
    "flipped.state": good[:100] + bytes([good[100] ^ 4]) + good[101:],
    "other_model.state": encode(identity=0x1111),
    "version2.state": encode(version=2),
    "header_only.state": good[:76],
}
for name, data in seeds.items():
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
