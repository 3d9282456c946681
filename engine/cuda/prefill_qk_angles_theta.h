// The fused q/k op (prefill_qk_angles_bf16_forward, kernels/prefill_qk_angles.cu) for the
// training forward (issue 5): the same outputs from fp32 in_proj rows, plus every token's
// running angles. Kept out of cuda_ops.h so that adding it rebuilds only its users.
#pragma once

#include "cuda/cuda_ops.h"

namespace lectern::cuda {

// prefill_qk_angles_bf16_forward that also writes theta [batch·T, H, A] (fp32): the angle
// each token's q/k pairs were rotated by (rotary_theta_forward's layout, which the training
// backward reads), so that the increments and the running angles need no pass of their own.
// Past one 64-token segment a document, the angles are the op's exact integer-turn segment
// bases plus a double running sum, rounded once (rotary_theta_forward rounds each 256-token
// segment's sum to float first): the same angles to ~1e-6, not the same bits. False,
// launching nothing, where the fused op does not apply or theta is null.
bool prefill_qk_angles_bf16_theta_forward(const ops::Mamba3Dims& d,
                                          const ops::Mamba3PreprocessParams& p, const float* proj,
                                          int64_t batch, int64_t T, float* angleState,
                                          void* segScratch, size_t segScratchBytes, void* qb,
                                          void* kb, float* kLast, float* dt, float* adt,
                                          float* trap, float* theta, cudaStream_t s);

}  // namespace lectern::cuda
