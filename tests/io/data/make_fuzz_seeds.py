#!/usr/bin/env python3
"""Writes the seed corpora of the engine/io fuzz targets under tests/fuzz/corpus/<target>/:
small valid and broken safetensors files, the MOD-2 pickles and MOD-3 zips (run
make_bad_inputs.py first), the golden data.pkl files, and small tokenizer.json files in
GPT-2, GPT-NeoX and Llama-3 style plus plain texts. Re-run: python3 tests/io/data/make_fuzz_seeds.py"""
import glob
import json
import os
import shutil
import struct
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
GOLDEN = os.path.join(ROOT, "..", "shared", "golden")


def out(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def st(header, buf=b""):
    h = json.dumps(header, separators=(",", ":")).encode() if not isinstance(header, bytes) else header
    return struct.pack("<Q", len(h)) + h + buf


def safetensors_seeds():
    t = "fuzz_safetensors"
    out(t, "empty_header", st({}))
    out(t, "one_f32", st({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, bytes(8)))
    out(t, "model_like", st({
        "__metadata__": {"format": "pt", "lm_head.weight": "emb"},
        "emb": {"dtype": "F32", "shape": [4, 2], "data_offsets": [0, 32]},
        "ids": {"dtype": "I32", "shape": [1, 3], "data_offsets": [32, 44]},
        "h": {"dtype": "BF16", "shape": [2], "data_offsets": [44, 48]},
        "f": {"dtype": "F16", "shape": [2, 1], "data_offsets": [48, 52]},
        "b": {"dtype": "BOOL", "shape": [0], "data_offsets": [52, 52]},
        "d": {"dtype": "F64", "shape": [1], "data_offsets": [52, 60]},
    }, bytes(range(60))))
    out(t, "overlap", st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                          "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)))
    out(t, "hole", st({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)))
    out(t, "shape_overflow", st({"a": {"dtype": "F32", "shape": [4294967296, 4294967296],
                                       "data_offsets": [0, 8]}}, bytes(8)))
    out(t, "duplicate_key", st(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                               b'"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"x"))
    out(t, "header_past_end", struct.pack("<Q", 1 << 32) + b"{}")


def pickle_seeds():
    for d in ("fuzz_unpickler", "fuzz_torch_zip"):
        os.makedirs(os.path.join(CORPUS, d), exist_ok=True)
    for p in glob.glob(os.path.join(HERE, "pickles", "*.pkl")):
        shutil.copy(p, os.path.join(CORPUS, "fuzz_unpickler", os.path.basename(p)))
    for case in ("siso_tiny", "mimo_tiny"):
        path = os.path.join(GOLDEN, case, "pytorch_model.bin")
        if os.path.exists(path):
            with zipfile.ZipFile(path) as z:
                out("fuzz_unpickler", "golden_" + case + ".pkl", z.read("pytorch_model/data.pkl"))
    for p in glob.glob(os.path.join(HERE, "zips", "*.zip")):
        shutil.copy(p, os.path.join(CORPUS, "fuzz_torch_zip", os.path.basename(p)))


def bytes_to_unicode():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tokenizer(pre, normalizer=None, added=(), merges=(), post=None, array_merges=False, ignore=False):
    m = bytes_to_unicode()
    vocab = {m[b]: b for b in range(256)}
    bl = lambda s: "".join(m[b] for b in s.encode())
    merge_list = []
    for a, b in merges:
        vocab.setdefault(bl(a + b), len(vocab))
        merge_list.append([bl(a), bl(b)] if array_merges else bl(a) + " " + bl(b))
    added_list = []
    for content, special, normalized in added:
        added_list.append({"id": len(vocab) + len(added_list), "content": content, "single_word": False,
                           "lstrip": False, "rstrip": False, "normalized": normalized, "special": special})
    return json.dumps({"version": "1.0", "added_tokens": added_list, "normalizer": normalizer,
                       "pre_tokenizer": pre, "post_processor": post,
                       "decoder": {"type": "ByteLevel"},
                       "model": {"type": "BPE", "dropout": None, "unk_token": None,
                                 "ignore_merges": ignore, "vocab": vocab, "merges": merge_list}},
                      ensure_ascii=False)


LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
          r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def tokenizer_seeds():
    t = "fuzz_tokenizer_json"
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    merges = [("t", "h"), ("th", "e"), (" ", "the"), ("e", "l"), ("l", "l")]
    out(t, "gpt2.json", tokenizer(byte_level, added=[("<|endoftext|>", True, False)], merges=merges))
    out(t, "neox.json", tokenizer(byte_level, normalizer={"type": "NFC"},
                                  added=[("<|endoftext|>", True, False), ("<|padding|>", True, False),
                                         ("  ", False, True), ("    ", False, True)],
                                  merges=merges, array_merges=True))
    pre = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    post = {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [261],
                                                     "tokens": ["<|begin_of_text|>"]}}}
    out(t, "llama3.json", tokenizer(pre, added=[("<|begin_of_text|>", True, False)], merges=merges,
                                    post=post, ignore=True))
    out(t, "wordpiece.json", json.dumps({"model": {"type": "WordPiece", "vocab": {"a": 0}}}))
    out(t, "text_plain", "Hello, the world! It's 2024.\n\n  tabs\tand <|endoftext|> too")
    out(t, "text_invalid_utf8", b"caf\xc3\xa9 \xff\xfe\xc3 \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x98\x80 \x80")


def main():
    safetensors_seeds()
    pickle_seeds()
    tokenizer_seeds()


if __name__ == "__main__":
    main()
