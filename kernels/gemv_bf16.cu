// Decode-sized projections (at most kGemvMaxRows activation rows) in Bf16 mode: out [rows,
// outF] = in [rows, inF] · Wᵀ with W in bf16 and the activations kept in fp32. One warp
// per output feature streams its weight row with 16-byte loads (8 bf16 per lane, several
// in flight), so the launch reads the weights once at close to the copy bandwidth; the
// cuBLAS path for N <= 4 first rounds the activations in a separate launch and ran at a
// fraction of it (NOTES-gpu.md). fp32 accumulation, warp-shuffle reduction.
#include <cuda_bf16.h>

#include "common.cuh"
#include "cuda/cuda_ops.h"

namespace lectern::cuda {
namespace {

template <int kRows>
__global__ void __launch_bounds__(256)
    gemvKernel(float* __restrict__ out, const float* __restrict__ in, int64_t ldIn,
               const __nv_bfloat16* __restrict__ W, int outF, int inF) {
    const int o = int((int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5);
    const int lane = threadIdx.x & 31;
    if (o >= outF) return;
    const __nv_bfloat16* w = W + int64_t(o) * inF;
    float acc[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
#pragma unroll 4
    for (int k = lane * 8; k < inF; k += 256) {
        const uint4 raw = __ldg(reinterpret_cast<const uint4*>(w + k));
        const __nv_bfloat162* p = reinterpret_cast<const __nv_bfloat162*>(&raw);
        float wf[8];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const float2 f = __bfloat1622float2(p[i]);
            wf[2 * i] = f.x;
            wf[2 * i + 1] = f.y;
        }
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
            const float4 a0 = *reinterpret_cast<const float4*>(in + r * ldIn + k);
            const float4 a1 = *reinterpret_cast<const float4*>(in + r * ldIn + k + 4);
            acc[r] += a0.x * wf[0] + a0.y * wf[1] + a0.z * wf[2] + a0.w * wf[3] + a1.x * wf[4] +
                      a1.y * wf[5] + a1.z * wf[6] + a1.w * wf[7];
        }
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
        const float v = detail::warpSum(acc[r]);
        if (lane == 0) out[int64_t(r) * outF + o] = v;
    }
}

template <int kRows>
void launch(float* out, const float* in, int64_t ldIn, const DeviceMatrix& W, cudaStream_t s) {
    const unsigned blocks = detail::gridFor(W.rows * 32, 256);
    gemvKernel<kRows><<<blocks, 256, 0, s>>>(
        out, in, ldIn, static_cast<const __nv_bfloat16*>(W.bf16), int(W.rows), int(W.cols));
}

}  // namespace

bool gemv_bf16_forward(float* out, const float* in, int64_t ldIn, const DeviceMatrix& W,
                       int64_t rows, cudaStream_t s) {
    const auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
    if (rows < 1 || rows > kGemvMaxRows || !W.bf16 || W.cols % 8 != 0 || ldIn % 4 != 0 ||
        !aligned(in) || !aligned(W.bf16) || W.rows > (int64_t(1) << 26))
        return false;
    switch (rows) {
        case 1:
            launch<1>(out, in, ldIn, W, s);
            break;
        case 2:
            launch<2>(out, in, ldIn, W, s);
            break;
        case 3:
            launch<3>(out, in, ldIn, W, s);
            break;
        default:
            launch<4>(out, in, ldIn, W, s);
            break;
    }
    return true;
}

}  // namespace lectern::cuda
