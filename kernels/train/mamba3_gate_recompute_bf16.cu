// The bf16 training step's recompute of the gate in the backward (ops_backward_cuda.h,
// mamba3_gate_forward_bf16): mamba3_gate_forward's maths (engine/cpu/mamba3_gate.cpp) with
// the output rounded to bf16 as it is stored. Its only reader is the out_proj backward's
// weight-gradient GEMM, which wants bf16 anyway: the fp32 row and the conversion pass over
// it (a write and a read of rows x d_inner floats a layer) are never made.
// One warp per (row, head); lane owns p = lane + 32j; the R ranks summed in registers. SISO
// without the norm or the MIMO weights: gatePlainBf16, a flat pass.
#include <cuda_bf16.h>

#include "common.cuh"
#include "training/cuda/ops_backward_cuda.h"

namespace lectern::train::cuda {
namespace {

namespace det = lectern::cuda::detail;
constexpr int kSlots = 8;  // P <= 256
constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    gateRecomputeBf16(det::KDims d, ops::Mamba3GateParams prm, const float* __restrict__ y,
                      const float* __restrict__ z, int64_t zStride, int64_t rows,
                      __nv_bfloat16* __restrict__ out) {
    const int64_t item = (int64_t(blockIdx.x) * kThreads + threadIdx.x) >> 5;
    if (item >= rows * d.H) return;
    const int lane = threadIdx.x & 31, P = d.P;
    const int64_t t = item / d.H;
    const int h = int(item - t * d.H);
    const float* zRow = z + t * zStride + int64_t(h) * P;
    const float* nw = prm.normW ? prm.normW + int64_t(h) * P : nullptr;
    float sum[kSlots] = {};
    for (int r = 0; r < d.R; ++r) {
        const float* yr = y + ((t * d.R + r) * d.H + h) * int64_t(P);
        float yv[kSlots];
        float sq = 0.0f;
#pragma unroll
        for (int j = 0; j < kSlots; ++j) {
            const int p = lane + 32 * j;
            yv[j] = p < P ? yr[p] : 0.0f;
            sq += yv[j] * yv[j];
        }
        const float inv = nw ? rsqrtf(det::warpSum(sq) / float(P) + d.eps) : 1.0f;
        const int64_t w = (int64_t(h) * d.R + r) * P;
#pragma unroll
        for (int j = 0; j < kSlots; ++j) {
            const int p = lane + 32 * j;
            if (p >= P) break;
            const float zr = prm.mimoZ ? zRow[p] * prm.mimoZ[w + p] : zRow[p];
            const float n = nw ? yv[j] * inv * nw[p] : yv[j];
            const float o = n * det::siluf(zr);
            sum[j] += prm.mimoO ? o * prm.mimoO[w + p] : o;
        }
    }
    __nv_bfloat16* o = out + t * d.dInner + int64_t(h) * P;
#pragma unroll
    for (int j = 0; j < kSlots; ++j)
        if (lane + 32 * j < P) o[lane + 32 * j] = __float2bfloat16_rn(sum[j]);
}

// SISO without the head norm or the MIMO weights (the ~125M model): out = y · silu(z) per
// element, a flat pass of four elements a thread (16-byte loads, one 8-byte store).
__global__ void gatePlainBf16(const float4* __restrict__ y, const float* __restrict__ z,
                              int64_t zStride, int64_t rows, int64_t cols4,
                              uint2* __restrict__ out) {
    const int64_t n = rows * cols4;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t t = i / cols4, c = i - t * cols4;
        const float4 yv = y[i], zv = reinterpret_cast<const float4*>(z + t * zStride)[c];
        const __nv_bfloat162 lo =
            __floats2bfloat162_rn(yv.x * det::siluf(zv.x), yv.y * det::siluf(zv.y));
        const __nv_bfloat162 hi =
            __floats2bfloat162_rn(yv.z * det::siluf(zv.z), yv.w * det::siluf(zv.w));
        uint2 o;
        o.x = *reinterpret_cast<const unsigned*>(&lo);
        o.y = *reinterpret_cast<const unsigned*>(&hi);
        out[i] = o;
    }
}

bool aligned16(const void* p) {
    return (reinterpret_cast<uintptr_t>(p) & 15) == 0;
}

}  // namespace

cudaError_t mamba3_gate_forward_bf16(const ops::Mamba3Dims& dims, const ops::Mamba3GateParams& p,
                                     const float* y, const float* z, int64_t zStride, int64_t rows,
                                     void* out, cudaStream_t s) {
    if (rows <= 0 || dims.H <= 0) return cudaSuccess;
    if (dims.P > 32 * kSlots) return cudaErrorInvalidValue;
    const int64_t inner = dims.dInner();
    if (!p.mimoZ && !p.mimoO && !p.normW && dims.R == 1 && inner % 4 == 0 && zStride % 4 == 0 &&
        aligned16(y) && aligned16(z) && (reinterpret_cast<uintptr_t>(out) & 7) == 0) {
        const int64_t n4 = rows * inner / 4;
        const unsigned blocks = unsigned(std::min<int64_t>((n4 + kThreads - 1) / kThreads, 8192));
        gatePlainBf16<<<blocks, kThreads, 0, s>>>(reinterpret_cast<const float4*>(y), z, zStride,
                                                  rows, inner / 4, static_cast<uint2*>(out));
        return cudaGetLastError();
    }
    const int64_t warps = rows * dims.H;
    gateRecomputeBf16<<<unsigned((warps * 32 + kThreads - 1) / kThreads), kThreads, 0, s>>>(
        det::kdims(dims), p, y, z, zStride, rows, static_cast<__nv_bfloat16*>(out));
    return cudaGetLastError();
}

}  // namespace lectern::train::cuda
