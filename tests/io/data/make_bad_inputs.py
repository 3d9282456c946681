#!/usr/bin/env python3
"""Generates the committed bad inputs of RELIABILITY.md MOD-2 (malicious pickles) and
MOD-3 (hostile zip containers) as bytes under tests/io/data/. It only writes pickles; it
never loads one. Re-run after changing a case: python3 tests/io/data/make_bad_inputs.py"""
import io
import os
import struct
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
PKL = os.path.join(HERE, "pickles")
ZIP = os.path.join(HERE, "zips")


def binunicode(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def storage_pid(key, numel, typ=b"FloatStorage"):
    return (b"(" + binunicode("storage") + b"ctorch\n" + typ + b"\n" + binunicode(key) +
            binunicode("cpu") + b"J" + struct.pack("<i", numel) + b"tQ")


def tensor(key, numel, offset=0, size=None, stride=None):
    size = size or [numel]
    stride = stride or [1]
    tup = lambda xs: b"(" + b"".join(b"J" + struct.pack("<i", x) for x in xs) + b"t"
    return (b"ctorch._utils\n_rebuild_tensor_v2\n(" + storage_pid(key, numel) +
            b"J" + struct.pack("<i", offset) + tup(size) + tup(stride) +
            b"\x89ccollections\nOrderedDict\n)RtR")


def state_dict(entries):
    body = b"".join(binunicode(k) + v for k, v in entries)
    return b"\x80\x02ccollections\nOrderedDict\n)R(" + body + b"u."


GOOD = state_dict([("w", tensor("0", 4, size=[2, 2], stride=[2, 1]))])

PICKLES = {
    "good_state_dict": GOOD,
    "global_posix_system": b"\x80\x02cposix\nsystem\n" + binunicode("echo pwned") + b"\x85R.",
    "global_builtins_eval": b"\x80\x02cbuiltins\neval\n" + binunicode("1+1") + b"\x85R.",
    "global_builtins_exec": b"\x80\x02cbuiltins\nexec\n" + binunicode("x=1") + b"\x85R.",
    "newobj_subprocess_popen": b"\x80\x02csubprocess\nPopen\n)\x81.",
    "stack_global_os_system": b"\x80\x04\x8c\x02os\x8c\x06system\x93" + binunicode("id") + b"\x85R.",
    "build_on_non_tensor": b"\x80\x02" + binunicode("x") + b"}b.",
    "setitem_on_list": b"\x80\x02]" + binunicode("k") + binunicode("v") + b"s.",
    "persid_not_storage": b"\x80\x02(" + binunicode("evil") + b"ctorch\nFloatStorage\n" +
                          binunicode("0") + binunicode("cpu") + b"K\x04tQ.",
    "memo_index_out_of_range": b"\x80\x02h\x07.",
    "long_binget_out_of_range": b"\x80\x02j\xff\xff\xff\x7f.",
    "stack_underflow": b"\x80\x02R.",
    "nested_marks": b"\x80\x02" + b"(" * 1000000 + b".",
    "protocol5": b"\x80\x05\x96\x00\x00\x00\x00\x00\x00\x00\x00.",
    "protocol5_opcode_in_proto2": b"\x80\x02\x97.",
    "binunicode_4gb_length": b"\x80\x02X\xff\xff\xff\xff" + b"a" * 1000 + b".",
    "truncated": GOOD[: len(GOOD) // 2],
    "no_stop": GOOD[:-1],
    "not_a_dict": b"\x80\x02K\x05.",
    "non_contiguous": state_dict([("w", tensor("0", 4, size=[2, 2], stride=[1, 2]))]),
    "tensor_past_storage": state_dict([("w", tensor("0", 4, offset=2, size=[4], stride=[1]))]),
    "value_not_tensor": state_dict([("w", b"K\x01")]),
    "duplicate_name": state_dict([("w", tensor("0", 4)), ("w", tensor("0", 4))]),
    "invalid_utf8_name": b"\x80\x02}X\x02\x00\x00\x00\xff\xfeK\x01s.",
}


def torch_zip(pkl, storages, folder="archive", extra=()):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(folder + "/data.pkl", pkl)
        z.writestr(folder + "/byteorder", "little")
        for key, data in storages.items():
            z.writestr(folder + "/data/" + key, data)
        for name, data in extra:
            z.writestr(name, data)
    return bytearray(buf.getvalue())


def zips():
    four = struct.pack("<4f", 1, 2, 3, 4)
    out = {"good": torch_zip(GOOD, {"0": four})}
    for label, name in [("dotdot", "../x"), ("absolute", "/abs"), ("backslash", "archive/a\\b"),
                        ("drive", "C:x")]:
        out["name_" + label] = torch_zip(GOOD, {"0": four}, extra=[(name, b"x")])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", GOOD)
        z.writestr("archive/data/0", four)
        z.writestr("archive/data/1", four)
    out["duplicate_entry"] = bytearray(buf.getvalue()).replace(b"archive/data/1", b"archive/data/0")
    bad = torch_zip(GOOD, {"0": four})
    first = bad.find(b"PK\x03\x04")
    bad[first + 30] ^= 0x20  # local name "archive/..." -> "Archive/...": disagrees with the CD
    out["local_header_disagrees"] = bad
    cd = torch_zip(GOOD, {"0": four})
    pos = cd.rfind(b"archive/data/0")  # the central-directory copy of the storage's name
    hdr = pos - 46
    struct.pack_into("<II", cd, hdr + 20, 1 << 30, 1 << 30)  # declared size past EOF
    local = cd.find(b"archive/data/0") - 30  # ... in the local header too, so they agree
    struct.pack_into("<II", cd, local + 18, 1 << 30, 1 << 30)
    out["size_past_eof"] = cd
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", GOOD)
        z.writestr("archive/data/0", four)
    out["deflated"] = bytearray(buf.getvalue())
    out["storage_numel_too_large"] = torch_zip(GOOD, {"0": four[:8]})
    flipped = torch_zip(GOOD, {"0": four})
    flipped[flipped.find(four) + 1] ^= 1
    out["crc_mismatch"] = flipped
    out["global_in_zip"] = torch_zip(PICKLES["global_posix_system"], {})
    return out


def main():
    os.makedirs(PKL, exist_ok=True)
    os.makedirs(ZIP, exist_ok=True)
    for name, data in PICKLES.items():
        with open(os.path.join(PKL, name + ".pkl"), "wb") as f:
            f.write(data)
    for name, data in zips().items():
        with open(os.path.join(ZIP, name + ".zip"), "wb") as f:
            f.write(bytes(data))


if __name__ == "__main__":
    main()
