#!/usr/bin/env python3
"""The official Mamba-3 training step (state-spaces/mamba MambaLMHeadModel, Triton SISO
kernels) in issue 5's ~125M configuration, for a side-by-side with `lectern-cli train
--device cuda`: forward, next-token cross-entropy, backward and AdamW, timed with CUDA events.

Usage: bench_official_train.py <folder holding mamba_ssm/> [batch] [seq] [steps] [dtype]
dtype: bf16 (autocast over fp32 master weights, the usual mixed-precision recipe; default)
or fp32. Prints tokens/s (median step of `steps` after 2 warm-up steps) and peak memory.
The official package's __init__ imports compiled extensions that are absent on the GPU
machine, so the package module is made by hand (as bench_official.py does).
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


def main():
    ref = sys.argv[1]
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    seq = int(sys.argv[3]) if len(sys.argv) > 3 else 4096
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    dtype = sys.argv[5] if len(sys.argv) > 5 else "bf16"
    MambaConfig, MambaLMHeadModel = import_official(ref)
    print("torch", torch.__version__, "device", torch.cuda.get_device_name(), flush=True)
    cfg = MambaConfig(d_model=768, n_layer=24, d_intermediate=0, vocab_size=50280,
                      ssm_cfg={"layer": "Mamba3", "d_state": 128, "headdim": 64, "expand": 2,
                               "is_mimo": False, "chunk_size": 64},
                      rms_norm=True, residual_in_fp32=True, fused_add_norm=True,
                      pad_vocab_size_multiple=8, tie_embeddings=True)
    torch.manual_seed(0)
    model = MambaLMHeadModel(cfg, device="cuda", dtype=torch.float32).train()
    params = sum(p.numel() for p in model.parameters())
    print(f"official SISO model: {params / 1e6:.1f} M parameters, fp32 master weights, "
          f"{dtype} compute", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    ids = torch.randint(0, 50280, (batch, seq), device="cuda", dtype=torch.long)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == "bf16"):
            logits = model(ids).logits
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                                                 ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for _ in range(2):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(steps):
        e0 = torch.cuda.Event(enable_timing=True)
        e1 = torch.cuda.Event(enable_timing=True)
        e0.record()
        loss = step()
        e1.record()
        torch.cuda.synchronize()
        times.append(e0.elapsed_time(e1) / 1e3)
    times.sort()
    sec = times[len(times) // 2]
    print(f"official train step {batch}x{seq} ({dtype}): {batch * seq / sec:10.0f} tok/s "
          f"({sec * 1e3:.1f} ms, median of {steps}; loss {loss.item():.3f})", flush=True)
    print(f"official peak memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB", flush=True)


if __name__ == "__main__":
    main()
