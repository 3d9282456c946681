// CUDA twin of engine/cpu/add_rmsnorm.cpp: residual += delta and RMSNorm in one pass per
// row (one block per row; the row is read once for the add and the sum of squares).
#include "common.cuh"
#include "cuda/cuda_ops.h"

namespace lectern::cuda {
namespace {

__global__ void addRmsnormKernel(float* out, float* residual, const float* delta, const float* w,
                                 int64_t dim, float eps) {
    __shared__ float sh[32];
    const int64_t base = int64_t(blockIdx.x) * dim;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
        float r = residual[base + i];
        if (delta != nullptr) {
            r += delta[base + i];
            residual[base + i] = r;
        }
        ss += r * r;
    }
    const float scale = rsqrtf(detail::blockSum(ss, sh) / float(dim) + eps);
    // Each thread re-reads only the elements it wrote itself, so no barrier is needed.
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x)
        out[base + i] = residual[base + i] * scale * w[i];
}

}  // namespace

void add_rmsnorm_forward(float* out, float* residual, const float* delta, const float* weight,
                         int64_t rows, int64_t dim, float eps, cudaStream_t s) {
    if (rows <= 0) return;
    addRmsnormKernel<<<unsigned(rows), 256, 0, s>>>(out, residual, delta, weight, dim, eps);
}

}  // namespace lectern::cuda
