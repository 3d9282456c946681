// Op rmsnorm_forward: RMSNorm over the last dimension, fp32 accumulate.
//   in, out fp32 [rows, dim] (may alias); weight fp32 [dim]
//   out[r, i] = in[r, i] * rsqrt(mean_i(in[r, :]^2) + eps) * weight[i]
// Used for B_norm/C_norm (dim = N) and anywhere a plain norm is needed. The block norms
// use add_rmsnorm_forward (residual add fused in).
#pragma once

#include <cstdint>

namespace lectern::cpu {

void rmsnorm_forward(float* out, const float* in, const float* weight, int64_t rows, int64_t dim,
                     float eps);

}  // namespace lectern::cpu
