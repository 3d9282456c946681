// CUDA twin of training/backward/rmsnorm_backward.cpp. With r = 1/sqrt(mean x² + eps) and
// g = dout ⊙ w:  dx += r·g − x·r³/dim·Σ_j g_j x_j,  dw += dout ⊙ x·r.
// A block walks rows blockIdx.x, blockIdx.x + gridDim.x, ...: the row sums are block
// reductions (fp32, as the forward kernel), and since thread i always owns the same columns,
// dw collects in shared memory without atomics; at the end one atomicAdd per block and
// column adds the block's partial sum (at most kMaxBlocks per column).
#include "common.cuh"
#include "training/cuda/ops_backward_cuda.h"

namespace lectern::train::cuda {
namespace {

namespace det = lectern::cuda::detail;
constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 512;
constexpr int64_t kMaxDim = 12288;  // dw in shared memory: 48 KiB

__global__ void rmsnormBackwardKernel(float* __restrict__ din, float* __restrict__ dweight,
                                      const float* __restrict__ dout, const float* __restrict__ in,
                                      const float* __restrict__ weight, int64_t rows, int dim,
                                      float eps) {
    extern __shared__ float dw[];
    __shared__ float red[32];
    for (int i = threadIdx.x; i < dim; i += blockDim.x) dw[i] = 0.0f;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* x = in + r * dim;
        const float* go = dout + r * dim;
        float ss = 0.0f, gx = 0.0f;
        for (int i = threadIdx.x; i < dim; i += blockDim.x) {
            ss += x[i] * x[i];
            gx += go[i] * weight[i] * x[i];
        }
        ss = det::blockSum(ss, red);
        gx = det::blockSum(gx, red);
        const float rs = 1.0f / sqrtf(ss / float(dim) + eps);
        const float c = rs * rs * rs / float(dim) * gx;
        float* dx = din + r * dim;
        for (int i = threadIdx.x; i < dim; i += blockDim.x) {
            dx[i] += rs * go[i] * weight[i] - c * x[i];
            dw[i] += go[i] * x[i] * rs;
        }
    }
    for (int i = threadIdx.x; i < dim; i += blockDim.x) atomicAdd(dweight + i, dw[i]);
}

}  // namespace

cudaError_t rmsnorm_backward(float* din, float* dweight, const float* dout, const float* in,
                             const float* weight, int64_t rows, int64_t dim, float eps,
                             cudaStream_t s) {
    if (rows <= 0 || dim <= 0) return cudaSuccess;
    if (dim > kMaxDim) return cudaErrorInvalidValue;
    const unsigned blocks = unsigned(std::min(rows, kMaxBlocks));
    rmsnormBackwardKernel<<<blocks, kThreads, size_t(dim) * sizeof(float), s>>>(
        din, dweight, dout, in, weight, rows, int(dim), eps);
    return cudaGetLastError();
}

}  // namespace lectern::train::cuda
