// CUDA twin of engine/cpu/rmsnorm.cpp: one block per row, fp32 block reduction.
#include "common.cuh"
#include "cuda/cuda_ops.h"

namespace lectern::cuda {
namespace {

__global__ void rmsnormKernel(float* out, const float* in, const float* w, int64_t dim, float eps) {
    __shared__ float sh[32];
    const float* x = in + int64_t(blockIdx.x) * dim;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) ss += x[i] * x[i];
    const float scale = rsqrtf(detail::blockSum(ss, sh) / float(dim) + eps);
    float* o = out + int64_t(blockIdx.x) * dim;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) o[i] = x[i] * scale * w[i];
}

}  // namespace

void rmsnorm_forward(float* out, const float* in, const float* weight, int64_t rows, int64_t dim,
                     float eps, cudaStream_t s) {
    if (rows <= 0) return;
    rmsnormKernel<<<unsigned(rows), 256, 0, s>>>(out, in, weight, dim, eps);
}

}  // namespace lectern::cuda
