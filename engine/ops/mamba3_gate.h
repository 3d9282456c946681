// Op mamba3_gate_forward: from the scan's per-rank output to the out_proj input.
//   y fp32 [T, R, H, P];  z rows of zStride floats, head h at z + h*P
//   z_r = z ⊙ mimo_z[h, r]               (mimo_z, mimo_o null for SISO: all ones)
//   norm on (is_outproj_norm): y_r <- y_r · rsqrt(mean_p y_r² + eps) ⊙ normW[h, :]
//      (head-wise, i.e. RMSNormGated with group_size P and norm_before_gate; MIMO's fused
//       pre-gate norm is the same maths)
//   out[t, h, :] = Σ_r mimo_o[h, r] ⊙ y_r ⊙ silu(z_r)      out fp32 [T, H*P]
#pragma once

#include <cstdint>

#include "ops/mamba3_dims.h"

namespace lectern::ops {

struct Mamba3GateParams {
    const float* mimoZ;  // [H, R, P] or null
    const float* mimoO;  // [H, R, P] or null
    const float* normW;  // [H*P] or null (no out-proj norm)
};

}  // namespace lectern::ops

namespace lectern::cpu {

void mamba3_gate_forward(const ops::Mamba3Dims& d, const ops::Mamba3GateParams& p, const float* y,
                         const float* z, int64_t zStride, int64_t T, float* out);

}  // namespace lectern::cpu
