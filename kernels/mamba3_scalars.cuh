// The per-head scalar maps of the Mamba-3 preprocess (engine/cpu/mamba3_preprocess.cpp),
// shared by the preprocess kernels and the fused prefill q/k + angles pass so both make
// the same floats.
#pragma once

#include <cuda_runtime.h>

namespace lectern::cuda::detail {

__device__ __forceinline__ float softplusF(float u) {
    return u > 20.0f ? u : log1pf(expf(u));  // torch's threshold 20, as the CPU twin
}

__device__ __forceinline__ float heavyTailF(float u) {
    return u >= 0.0f ? 1.0f + u : 1.0f / (1.0f - u);
}

}  // namespace lectern::cuda::detail
