#!/usr/bin/env python3
"""The official Mamba-3 training step (state-spaces/mamba MambaLMHeadModel, Triton SISO
kernels) in issue 5's ~125M configuration, for a side-by-side with `lectern-cli train
--device cuda`: forward, next-token cross-entropy, backward and AdamW, timed with CUDA events.

Usage: bench_official_train.py <folder holding mamba_ssm/> [batch] [seq] [steps] [dtype]
dtype: bf16 (autocast over fp32 master weights, the usual mixed-precision recipe; default)
or fp32. Prints tokens/s (median step of `steps` after 2 warm-up steps) and peak memory.
The official package's __init__ imports compiled extensions that are absent on the GPU
machine, so the package module is made by hand (as bench_official.py does).

Autotuning: the official Triton kernels autotune over up to 81 configurations each (~230
compilations for one training step, cold cache): the two warm-up steps did not finish in
120 s. By default every autotuned kernel of the package keeps the configurations with 4 or 8
warps, 2 stages, no register cap and a chunk of 64 or 128 where the chunk is tuned (at most 4
each; kernels whose list has no such entry keep theirs), so the warm-up compiles a few
dozen kernels (26 s on the H100). OFFICIAL_AUTOTUNE=wide also keeps 1 and 3 stages (up to
3x as many); OFFICIAL_AUTOTUNE=full keeps them all. The figure is then a lower bound on the
fully tuned one (printed with the number kept). OFFICIAL_PROFILE=1 profiles one more step
(profile_step).
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


def prune_autotune(wide):
    """Restricts every Autotuner of the imported mamba_ssm modules (see the docstring)."""
    from triton.runtime.autotuner import Autotuner
    import importlib
    for m in ("mamba_ssm.ops.triton.mamba3.mamba3_siso_fwd", "mamba_ssm.ops.triton.mamba3.mamba3_siso_bwd",
              "mamba_ssm.ops.triton.mamba3.angle_dt", "mamba_ssm.ops.triton.layer_norm",
              "mamba_ssm.ops.triton.layernorm_gated"):
        try:
            importlib.import_module(m)
        except Exception as e:  # a module the model does not use may fail to import
            print(f"(autotune pruning: {m} not imported: {e})", flush=True)
    kept = []
    for name, mod in list(sys.modules.items()):
        if not name.startswith("mamba_ssm"):
            continue
        for attr, obj in list(vars(mod).items()):
            if not isinstance(obj, Autotuner):
                continue
            def good(c):
                cs = c.kwargs.get("CHUNK_SIZE", 64)
                return (c.num_warps in (4, 8) and getattr(c, "maxnreg", None) is None and
                        cs in (64, 128))
            sel = [c for c in obj.configs if good(c)] or obj.configs
            if not wide:
                sel = [c for c in sel if c.num_stages == 2] or sel
            kept.append(f"{attr} {len(sel)}/{len(obj.configs)}")
            obj.configs = sel
    print("autotune configs kept: " + ", ".join(kept), flush=True)


def main():
    ref = sys.argv[1]
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    seq = int(sys.argv[3]) if len(sys.argv) > 3 else 4096
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    dtype = sys.argv[5] if len(sys.argv) > 5 else "bf16"
    MambaConfig, MambaLMHeadModel = import_official(ref)
    tune = os.environ.get("OFFICIAL_AUTOTUNE", "narrow")
    if tune != "full":
        prune_autotune(tune == "wide")
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

    import time
    for i in range(2):
        t0 = time.time()
        step()
        torch.cuda.synchronize()
        print(f"warm-up step {i + 1}: {time.time() - t0:.1f} s", flush=True)
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
    print(f"official MFU (6 x {params / 1e6:.1f} M x tokens/s / 989 TFLOP/s): "
          f"{6 * params * batch * seq / sec / 989e12 * 100:.2f} %", flush=True)
    if os.environ.get("OFFICIAL_PROFILE") == "1":
        profile_step(step)


def profile_step(step):
    """OFFICIAL_PROFILE=1: one more step under torch.profiler; prints the GPU kernels by total
    time (ms in that step) and the Mamba-3 scan's backward kernels (mamba3_siso_bwd) summed:
    the anchor for our scan backward (training/NOTES-cuda.md)."""
    from torch.profiler import profile, ProfilerActivity
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        step()
        torch.cuda.synchronize()
    def us(e):  # device_time_total in newer torch, cuda_time_total before
        return getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0)
    rows = [(e.key, us(e) / 1e3, e.count) for e in prof.key_averages() if us(e) > 0]
    rows.sort(key=lambda r: -r[1])
    print(f"official profile, one step: {sum(r[1] for r in rows):.1f} ms of kernels", flush=True)
    for name, ms, n in rows[:40]:
        print(f"  {ms:8.2f} ms {n:5d}x  {name[:110]}", flush=True)
    bwd = [r for r in rows if "mamba3" in r[0] and "bwd" in r[0]]
    for name, ms, n in bwd:
        print(f"  scan bwd: {ms:8.2f} ms {n:5d}x  {name[:110]}", flush=True)
    print(f"official Mamba-3 backward kernels (names with mamba3 and bwd): "
          f"{sum(r[1] for r in bwd):.2f} ms a step, {len(bwd)} kernels", flush=True)


if __name__ == "__main__":
    main()
