#!/usr/bin/env python3
"""`lectern-cli model memory` and scripts/model/slow_heads.py on the bundled model: slowing
two heads of layer 4 by 10 leaves every line of layers 0-3 as it was (they come before the
change), leaves layer 4's other heads' dt as it was, and shrinks the slowed heads' mean decay
several times (exactly 10 only where dt is deep in softplus's exponential regime).

    test_model_memory.py LECTERN_CLI"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
MODEL = os.path.join(ROOT, "resources", "models", "default")


def memory(cli, model, text):
    out = subprocess.run([cli, "model", "memory", model, "--text", text, "--tokens", "3000"],
                         check=True, capture_output=True, text=True).stdout.splitlines()
    rows = {}
    for line in out[2:]:
        f = line.split()
        rows[(int(f[0]), int(f[1]))] = (line, float(f[2]), float(f[3]))
    return rows


def main():
    cli = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "text.txt")
        with open(text, "w") as f:  # real text: this repository's design notes and code
            for name in ("README.md", os.path.join("engine", "model", "forward.cpp")):
                f.write(open(os.path.join(ROOT, name), encoding="utf-8").read())
        slow = os.path.join(tmp, "slow")
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "model", "slow_heads.py"),
                        "--model", MODEL, "--out", slow, "--heads", "4:3,7", "--factor", "10"],
                       check=True, stdout=subprocess.DEVNULL)
        base, after = memory(cli, MODEL, text), memory(cli, slow, text)
        assert len(base) == 6 * 16 and base.keys() == after.keys(), len(base)
        for (layer, head), (line, dt, adt) in base.items():
            line2, dt2, adt2 = after[(layer, head)]
            if layer < 4:
                assert line == line2, (line, line2)
            elif layer == 4 and head not in (3, 7):
                assert dt == dt2, (layer, head, dt, dt2)
            elif layer == 4:
                assert dt2 < dt / 5 and adt2 < adt / 3, (head, dt, dt2, adt, adt2)
        bad = subprocess.run([cli, "model", "memory", MODEL, "--text", os.path.join(tmp, "none")],
                             capture_output=True, text=True)
        assert bad.returncode == 1 and "none" in bad.stderr, (bad.returncode, bad.stderr)
    print("ok")


if __name__ == "__main__":
    main()
