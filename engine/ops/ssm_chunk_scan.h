// Op ssm_chunk_scan_forward: the recurrence of ssm_scan_common.h evaluated chunk-parallel
// (the prefill form; GPU kernels take this form). Per head, per chunk of C tokens with
// cs_t = Σ_{j<=t} adt_j inside the chunk and scale_s = trap_s·dt_s + (1 − trap_{s+1})·dt_{s+1}
// (the second term 0 for the chunk's last token):
//   acc   = h_in + (1 − trap_0)·dt_0 Σ_r v_in,r k_in,rᵀ         (the state's pending k, v)
//   y_t,R = e^{cs_t} acc q_t,R + Σ_{s<=t} e^{cs_t − cs_s} w_ts Σ_r (q_t,R·k_s,r) v_s,r + D v_t,R
//           w_ts = scale_s for s < t, trap_t·dt_t for s = t
//   h_out = e^{cs_last} acc + Σ_s e^{cs_last − cs_s} scale_s Σ_r v_s,r k_s,rᵀ;  k, v <- last token
// Chunks run in order, each continuing the previous one's state, so any T (ragged last
// chunk included) and any incoming state give the recurrent form's result.
//   y fp32 [T, R, H, P];  state updated in place.
#pragma once

#include "ops/ssm_scan_common.h"

namespace lectern::cpu {

void ssm_chunk_scan_forward(const ops::Mamba3Dims& d, int chunkSize, const ops::SsmScanInputs& in,
                            int64_t T, float* y, const ops::SsmStateRef& state);

}  // namespace lectern::cpu
