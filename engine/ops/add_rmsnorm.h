// Op add_rmsnorm_forward: the block's fused "add + RMSNorm" (official layer_norm_fn with
// prenorm=True, residual_in_fp32=True).
//   residual fp32 [rows, dim], updated in place: residual += delta (delta may be null: no add)
//   out      fp32 [rows, dim]: rmsnorm(residual) * weight, eps as given (1e-5 in Mamba)
// The residual stream stays fp32 whatever the weight dtype.
#pragma once

#include <cstdint>

namespace lectern::cpu {

void add_rmsnorm_forward(float* out, float* residual, const float* delta, const float* weight,
                         int64_t rows, int64_t dim, float eps);

}  // namespace lectern::cpu
