// Op ssm_step_forward: the recurrence of ssm_scan_common.h one token at a time (the
// decode form, official mamba3_step_fn). T tokens are taken in order; T = 1 in decode.
//   α = exp(adt), β = (1 − trap)·dt·α, γ = trap·dt
//   h <- α h + β Σ_r v_prev,r k_prev,rᵀ + γ Σ_r v_r k_rᵀ;  y_r = h q_r + D v_r;  k, v <- this token
//   y fp32 [T, R, H, P];  state updated in place.
#pragma once

#include "ops/ssm_scan_common.h"

namespace lectern::cpu {

void ssm_step_forward(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in, int64_t T, float* y,
                      const ops::SsmStateRef& state);

}  // namespace lectern::cpu
