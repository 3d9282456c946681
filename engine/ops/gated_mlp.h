// Op gated_mlp_forward: the official GatedMLP (bias-free, SiLU gate).
//   in fp32 [rows, D];  fc1 fp32 [2F, D];  fc2 fp32 [D, F];  out fp32 [rows, D]
//   h = in · fc1ᵀ  [rows, 2F];  y = h[:, :F] * silu(h[:, F:]);  out = y · fc2ᵀ
//   F = d_intermediate rounded up to a multiple of 128.
//   scratch fp32 [rows, 2F] (caller-owned, so decode allocates nothing).
#pragma once

#include <cstdint>

namespace lectern::cpu {

void gated_mlp_forward(float* out, const float* in, const float* fc1, const float* fc2,
                       float* scratch, int64_t rows, int64_t D, int64_t F);

}  // namespace lectern::cpu
