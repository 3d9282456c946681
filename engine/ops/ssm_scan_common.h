// The inputs and the state shared by ssm_chunk_scan_forward and ssm_step_forward.
// The state is the official inference cache of one layer for one document:
//   ssm   fp32 [H, P, N]  h_t
//   k     fp32 [R, H, N]  last token's rotated k (B after norm + bias + rotation)
//   v     fp32 [H, P]     last token's x (before the MIMO up-projection)
// Recurrence per head (v_r = x ⊙ mimo_x[h, r], mimo_x = 1 for SISO; α = exp(adt)):
//   h_t = α_t h_{t-1} + (1 − trap_t)·dt_t·α_t Σ_r v_{t-1,r} k_{t-1,r}ᵀ + trap_t·dt_t Σ_r v_{t,r}
//   k_{t,r}ᵀ y_{t,r} = h_t q_{t,r} + D[h] v_{t,r}            (y fp32 [T, R, H, P], before the gate)
#pragma once

#include <cstdint>

#include "ops/mamba3_dims.h"

namespace lectern::ops {

struct SsmScanInputs {
    const float* q;  // [T, R, H, N] rotated
    const float* k;  // [T, R, H, N] rotated
    const float* x;  // [T, ·] rows of xStride floats, head h at x + h*P
    int64_t xStride;
    const float* adt;    // [T, H]
    const float* dt;     // [T, H]
    const float* trap;   // [T, H] (after sigmoid)
    const float* D;      // [H]
    const float* mimoX;  // [H, R, P], or null for SISO (all ones)
};

struct SsmStateRef {
    float* ssm;  // [H, P, N]
    float* k;    // [R, H, N]
    float* v;    // [H, P]
};

}  // namespace lectern::ops
