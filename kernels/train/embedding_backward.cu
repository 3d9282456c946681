// CUDA twin of training/backward/embedding_backward.cpp: dtable[ids[r], :] += dout[r, :].
// Two rows may share a token, so each element is added with atomicAdd (the order of the
// additions, and so the last bits, vary from run to run; the CPU adds rows in order).
#include "common.cuh"
#include "training/cuda/ops_backward_cuda.h"

namespace lectern::train::cuda {
namespace {

__global__ void embeddingBackwardKernel(float* __restrict__ dtable, const float* __restrict__ dout,
                                        const int32_t* __restrict__ ids, int64_t rows, int64_t D) {
    const int64_t n = rows * D;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t r = i / D, c = i - r * D;
        atomicAdd(dtable + int64_t(ids[r]) * D + c, dout[i]);
    }
}

}  // namespace

cudaError_t embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t rows,
                               int64_t D, cudaStream_t s) {
    if (rows <= 0 || D <= 0) return cudaSuccess;
    const unsigned blocks =
        unsigned(std::min<int64_t>(lectern::cuda::detail::gridFor(rows * D, 256), 8192));
    embeddingBackwardKernel<<<blocks, 256, 0, s>>>(dtable, dout, ids, rows, D);
    return cudaGetLastError();
}

}  // namespace lectern::train::cuda
