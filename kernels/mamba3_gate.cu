// CUDA twin of engine/cpu/mamba3_gate.cpp. One warp per (token row, head); lanes over P
// (up to 8 values each, P <= 256 checked on the host), the head-wise norm reduced per
// warp.
#include "common.cuh"
#include "cuda/cuda_ops.h"

namespace lectern::cuda {
namespace {

__global__ void gateKernel(detail::KDims d, ops::Mamba3GateParams prm, const float* y,
                           const float* z, int64_t zStride, int64_t rows, float* out) {
    const int64_t gw = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (gw >= rows * d.H) return;
    const int h = int(gw % d.H);
    const int64_t t = gw / d.H;
    const float* zh = z + t * zStride + int64_t(h) * d.P;
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int r = 0; r < d.R; ++r) {
        const float* yr = y + ((t * d.R + r) * d.H + h) * int64_t(d.P);
        float scale = 1.0f;
        if (prm.normW != nullptr) {
            float ss = 0.0f;
            for (int p = lane; p < d.P; p += 32) ss += yr[p] * yr[p];
            scale = rsqrtf(detail::warpSum(ss) / float(d.P) + d.eps);
        }
        const int64_t wOff = (int64_t(h) * d.R + r) * d.P;
        // Constant indices into acc (unrolled), so it stays in registers: a run-time index
        // put it in local memory (0.79 ms a layer at 16k tokens, 30% of the bandwidth).
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const int p = lane + 32 * i;
            if (p >= d.P) break;
            float v = yr[p] * scale;
            if (prm.normW != nullptr) v *= prm.normW[int64_t(h) * d.P + p];
            const float zr = prm.mimoZ ? zh[p] * prm.mimoZ[wOff + p] : zh[p];
            v *= detail::siluf(zr);
            acc[i] += prm.mimoO ? v * prm.mimoO[wOff + p] : v;
        }
    }
    float* o = out + t * d.dInner + int64_t(h) * d.P;
#pragma unroll
    for (int i = 0; i < 8; ++i)
        if (lane + 32 * i < d.P) o[lane + 32 * i] = acc[i];
}

}  // namespace

void mamba3_gate_forward(const ops::Mamba3Dims& d, const ops::Mamba3GateParams& p, const float* y,
                         const float* z, int64_t zStride, int64_t rows, float* out,
                         cudaStream_t s) {
    if (rows <= 0) return;
    gateKernel<<<detail::gridFor(rows * d.H * 32, 256), 256, 0, s>>>(detail::kdims(d), p, y, z,
                                                                     zStride, rows, out);
}

}  // namespace lectern::cuda
