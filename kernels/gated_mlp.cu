// CUDA twin of engine/cpu/gated_mlp.cpp: fc1 GEMM, a SiLU-gate kernel writing the gated
// half compactly after h in the scratch (so no row is overwritten while another block
// reads it), then the fc2 GEMM.
#include "common.cuh"
#include "cuda/cuda_ops.h"

namespace lectern::cuda {
namespace {

__global__ void siluGate(float* gated, const float* h, int64_t rows, int64_t F) {
    const int64_t n = rows * F;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t r = i / F, c = i - r * F;
        const float* hr = h + r * 2 * F;
        gated[i] = hr[c] * detail::siluf(hr[F + c]);
    }
}

}  // namespace

int gated_mlp_forward(GemmContext& g, float* out, const float* in, const DeviceMatrix& fc1,
                      const DeviceMatrix& fc2, float* scratch, int64_t rows, cudaStream_t s) {
    if (rows <= 0) return 0;
    const int64_t F = fc2.cols;
    if (int st = linear_forward(g, scratch, in, fc1.cols, fc1, rows, s); st != 0) return st;
    float* gated = scratch + rows * 2 * F;
    const unsigned blocks = unsigned(std::min<int64_t>(detail::gridFor(rows * F, 256), 8192));
    siluGate<<<blocks, 256, 0, s>>>(gated, scratch, rows, F);
    return linear_forward(g, out, gated, F, fc2, rows, s);
}

}  // namespace lectern::cuda
