// Op mamba3_preprocess_forward: the per-token maths between in_proj and the scan.
//   proj  fp32 [T, dInProj] (split: z, x, B, C, dd_dt, dd_A, trap, angles; see Mamba3Dims)
//   dt    fp32 [T, H] = softplus(dd_dt + dt_bias[h])
//   adt   fp32 [T, H] = min(-heavy_tail(dd_A), -A_floor) * dt,
//                       heavy_tail(u) = u + 1 (u >= 0), 1 / (1 - u) (u < 0)
//   trap  fp32 [T, H] = sigmoid(trap_raw)
//   dtheta fp32 [T, H, A] = tanh(angles_raw[a]) * pi * dt[h]   (angle increment)
//   q, k  fp32 [T, R, H, N]: C (resp. B) row (r, g) RMSNormed over N with C_norm (B_norm)
//         weight, broadcast to the heads of group g = h / (H/G), plus C_bias[h, r, :]
//         (B_bias). Not yet rotated (rotary_angles_forward does that).
// Parameters: dt_bias [H], B_norm/C_norm weight [N], B_bias/C_bias [H, R, N].
#pragma once

#include <cstdint>

#include "ops/mamba3_dims.h"

namespace lectern::ops {

struct Mamba3PreprocessParams {
    const float* dtBias;  // [H]
    const float* bNorm;   // [N]
    const float* cNorm;   // [N]
    const float* bBias;   // [H, R, N]
    const float* cBias;   // [H, R, N]
};

}  // namespace lectern::ops

namespace lectern::cpu {

void mamba3_preprocess_forward(const ops::Mamba3Dims& d, const ops::Mamba3PreprocessParams& p,
                               const float* proj, int64_t T, float* q, float* k, float* dt,
                               float* adt, float* trap, float* dtheta);

}  // namespace lectern::cpu
