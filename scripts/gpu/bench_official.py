#!/usr/bin/env python3
"""The official Mamba-3 (state-spaces/mamba MambaLMHeadModel, Triton SISO kernels, bf16)
timed in the benchmark configuration of issue 4, for a side-by-side with bench_cuda.

Usage: bench_official.py <path to the folder holding mamba_ssm/> [reps]
The official package's __init__ imports compiled extensions that are absent here, so the
package module is made by hand with its __path__ and only the pure-Python/Triton modules
are imported. Prefill is timed with CUDA events (median of reps after warm-up) at 1x16384
and 8x2048, with full logits (as the issue's orientation figures) and last-token logits.
Its MIMO path needs TileLang and its decode step CuTe-DSL: neither is timed here.
"""
import os
import sys
import types

import torch


def import_official(ref):
    pkg = types.ModuleType("mamba_ssm")
    pkg.__path__ = [os.path.join(ref, "mamba_ssm")]
    sys.modules["mamba_ssm"] = pkg
    from mamba_ssm.models.config_mamba import MambaConfig
    from mamba_ssm.models.mixer_seq_simple import MambaLMHeadModel
    return MambaConfig, MambaLMHeadModel


def time_forward(model, ids, last_only, reps):
    kw = {"num_last_tokens": 1} if last_only else {}
    with torch.inference_mode():
        for _ in range(2):
            model(ids, **kw)
        torch.cuda.synchronize()
        times = []
        for _ in range(reps):
            e0 = torch.cuda.Event(enable_timing=True)
            e1 = torch.cuda.Event(enable_timing=True)
            e0.record()
            out = model(ids, **kw)
            e1.record()
            torch.cuda.synchronize()
            times.append(e0.elapsed_time(e1) / 1e3)
            del out
    times.sort()
    return times[len(times) // 2]


def main():
    ref = sys.argv[1]
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    MambaConfig, MambaLMHeadModel = import_official(ref)
    print("torch", torch.__version__, "device", torch.cuda.get_device_name(), flush=True)
    cfg = MambaConfig(d_model=2048, n_layer=48, d_intermediate=0, vocab_size=50280,
                      ssm_cfg={"layer": "Mamba3", "d_state": 128, "headdim": 64, "expand": 2,
                               "is_mimo": False, "chunk_size": 64},
                      rms_norm=True, residual_in_fp32=True, fused_add_norm=True,
                      pad_vocab_size_multiple=8, tie_embeddings=True)
    torch.manual_seed(0)
    model = MambaLMHeadModel(cfg, device="cuda", dtype=torch.bfloat16).eval()
    params = sum(p.numel() for p in model.parameters())
    print(f"official SISO model: {params / 1e9:.3f} B parameters, bf16", flush=True)
    for B, T in ((1, 16384), (8, 2048)):
        ids = torch.randint(0, 50280, (B, T), device="cuda", dtype=torch.long)
        for last_only in (False, True):
            sec = time_forward(model, ids, last_only, reps)
            what = "last-token logits" if last_only else "full logits"
            print(f"official prefill {B}x{T} ({what}): {B * T / sec:12.0f} tok/s "
                  f"({sec * 1e3:.2f} ms, median of {reps})", flush=True)
        del ids
        torch.cuda.empty_cache()
    print(f"official peak memory: {torch.cuda.max_memory_allocated() / 1e9:.2f} GB", flush=True)


if __name__ == "__main__":
    main()
