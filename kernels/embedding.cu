// CUDA twin of engine/cpu/embedding.cpp: one block per row copies table[ids[row]] (ids
// were range-checked by the caller, as the CPU contract says).
#include "common.cuh"
#include "cuda/cuda_ops.h"

namespace lectern::cuda {
namespace {

__global__ void embeddingKernel(float* out, const int32_t* ids, const float* table, int64_t D) {
    const int64_t row = blockIdx.x;
    const float* src = table + int64_t(ids[row]) * D;
    float* dst = out + row * D;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) dst[i] = src[i];
}

}  // namespace

void embedding_forward(float* out, const int32_t* ids, int64_t rows, const float* table, int64_t D,
                       cudaStream_t s) {
    if (rows <= 0) return;
    embeddingKernel<<<unsigned(rows), 256, 0, s>>>(out, ids, table, D);
}

}  // namespace lectern::cuda
