// The prefill's residual add + RMSNorm ahead of a bf16 in_proj: add_rmsnorm_forward's maths
// (fp32 sum of squares, the same scale), but the normalised row goes out in bf16, the form
// the GEMM reads (linear_bf16_input_forward), so neither the fp32 row nor linear_forward's
// conversion pass over it is written (NOTES-gpu.md, prefill fifth pass). One block a row,
// 16-byte loads, the row held in registers between the sum and the scaling.
#include <cuda_bf16.h>

#include "common.cuh"
#include "cuda/cuda_ops.h"

namespace lectern::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxVec = 4;  // float4s a thread holds: rows up to 4,096 floats

__global__ void __launch_bounds__(kThreads)
    addRmsnormBf16Kernel(__nv_bfloat16* out, float* residual, const float* delta, const float* w,
                         int64_t dim, float eps) {
    __shared__ float sh[32];
    const int64_t base = int64_t(blockIdx.x) * dim;
    const int nv = int(dim / 4);
    auto* res4 = reinterpret_cast<float4*>(residual + base);
    const auto* del4 = reinterpret_cast<const float4*>(delta ? delta + base : nullptr);
    float4 v[kMaxVec];
    float ss = 0.0f;
#pragma unroll
    for (int j = 0; j < kMaxVec; ++j) {
        const int i = threadIdx.x + j * kThreads;
        if (i >= nv) break;
        float4 r = res4[i];
        if (del4) {
            const float4 dd = del4[i];
            r = {r.x + dd.x, r.y + dd.y, r.z + dd.z, r.w + dd.w};
            res4[i] = r;
        }
        v[j] = r;
        ss += r.x * r.x + r.y * r.y + r.z * r.z + r.w * r.w;
    }
    const float scale = rsqrtf(detail::blockSum(ss, sh) / float(dim) + eps);
    const auto* w4 = reinterpret_cast<const float4*>(w);
    auto* o2 = reinterpret_cast<__nv_bfloat162*>(out + base);
#pragma unroll
    for (int j = 0; j < kMaxVec; ++j) {
        const int i = threadIdx.x + j * kThreads;
        if (i >= nv) break;
        const float4 ww = w4[i];
        o2[2 * i] = __floats2bfloat162_rn(v[j].x * scale * ww.x, v[j].y * scale * ww.y);
        o2[2 * i + 1] = __floats2bfloat162_rn(v[j].z * scale * ww.z, v[j].w * scale * ww.w);
    }
}

bool aligned16(const void* p) {
    return (reinterpret_cast<uintptr_t>(p) & 15) == 0;
}

}  // namespace

bool prefill_add_rmsnorm_bf16_forward(void* outBf16, float* residual, const float* delta,
                                      const float* weight, int64_t rows, int64_t dim, float eps,
                                      cudaStream_t s) {
    if (rows <= 0 || dim % 4 != 0 || dim > int64_t(4) * kThreads * kMaxVec || rows > 2147483647 ||
        !aligned16(outBf16) || !aligned16(residual) || !aligned16(delta) || !aligned16(weight))
        return false;
    addRmsnormBf16Kernel<<<unsigned(rows), kThreads, 0, s>>>(static_cast<__nv_bfloat16*>(outBf16),
                                                             residual, delta, weight, dim, eps);
    return true;
}

}  // namespace lectern::cuda
