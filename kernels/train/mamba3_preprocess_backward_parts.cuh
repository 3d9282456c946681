// Pieces of the rotary and preprocess backward (rotary_angles_backward.cu,
// mamba3_preprocess_backward.cu) that the fused form (mamba3_rotary_preprocess_backward.cu)
// launches around its own kernel. Host declarations only; same conventions as
// training/cuda/ops_backward_cuda.h (device pointers, stream last, launch errors returned).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "ops/mamba3_dims.h"

namespace lectern::train::cuda {

// ddtheta [batch·T, HA] (WRITTEN where `written`, else +=) = per (document, column) the reverse
// cumulative sum over its T tokens of dth [batch·T, HA] (∂L/∂θ_t); dth and ddtheta distinct.
cudaError_t rotary_theta_reverse_sum(const float* dth, int64_t batch, int64_t T, int64_t HA,
                                     float* ddtheta, bool written, cudaStream_t s);

// The most blocks mamba3_preprocess_scalars_backward launches (its dtBiasPartials rows).
constexpr int kPreprocessScalarBlocks = 1024;

// The preprocess backward's per-head scalars and angle columns: dproj's dd_dt, dd_A, trap and
// angle columns +=, from ddt, dadt, dtrap [rows, H] and ddtheta [rows, H, A]. dtBias [H] += by
// one atomicAdd per block and head where dtBiasPartials is null; else each block's sums are
// WRITTEN to dtBiasPartials [*blocks, H] (at most kPreprocessScalarBlocks rows) for a sum in a
// fixed order, and nothing is added to dtBias.
cudaError_t mamba3_preprocess_scalars_backward(const ops::Mamba3Dims& d, const float* dtBiasParam,
                                               float* dtBias, const float* proj, int64_t rows,
                                               const float* ddt, const float* dadt,
                                               const float* dtrap, const float* ddtheta,
                                               float* dproj, float* dtBiasPartials, int* blocks,
                                               cudaStream_t s);

// The reverse sum of dth [rows, H, A] over each document's T rows fused with the scalars and
// angle columns above (mamba3_angle_walk_backward.cu): dproj's dd_dt, dd_A, trap and angle
// columns +=; dtBias's per-block sums WRITTEN to dtParts [batch·blocksPerDoc, H]. The blocks
// are the fused kernel's (rowsPerBlock rows of one document each; the last may be shorter),
// segSums [batch·blocksPerDoc, H·A] each block's Σ of dth. Fits: A > 0, H <= 256, H·A <= 1024.
bool mamba3_angle_walk_fits(const ops::Mamba3Dims& d);
cudaError_t mamba3_angle_walk_backward(const ops::Mamba3Dims& d, const float* dtBiasParam,
                                       const float* proj, const float* ddt, const float* dadt,
                                       const float* dtrap, const float* dth, const double* segSums,
                                       int64_t batch, int64_t T, int64_t blocksPerDoc,
                                       int64_t rowsPerBlock, float* dproj, float* dtParts,
                                       cudaStream_t s);

}  // namespace lectern::train::cuda
