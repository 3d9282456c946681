// The bf16 step's recompute of the rotated q and k in the backward (ops_backward_cuda.h,
// mamba3_qk_rotated_siso_forward): mamba3_qk_rotated_forward's maths for SISO with N a
// multiple of 4, laid out for the stores. A block a token row: the group's B and C rows
// normalised and weighted once into shared memory with the row's sin/cos, then every
// thread writes whole float4s of q and k (an element pair (2a, 2a + 1) is its own rotation
// partner, so no partner is recomputed). The general kernel writes one float a lane and
// recomputes each partner; this is the form the ~125M model's backward runs 24 times a
// step (0.8 GB of q and k a layer at 4 x 4096). A bf16-output instance (8-byte stores of four
// rounded values) serves the scan backward's bf16 q/k form: half the bytes written.
#include <cuda_bf16.h>

#include "common.cuh"
#include "training/cuda/ops_backward_cuda.h"

namespace lectern::train::cuda {
namespace {

namespace det = lectern::cuda::detail;
constexpr int kThreads = 256;
constexpr size_t kMaxShared = 48 * 1024;

__device__ __forceinline__ void rotatePair(float& u, float& w, float c, float s) {
    const float r = u * c - w * s;
    w = u * s + w * c;
    u = r;
}

// Four values at dst (float4, or four bf16 rounded to nearest even in 8 bytes).
__device__ __forceinline__ void store4(float* dst, float4 v) {
    *reinterpret_cast<float4*>(dst) = v;
}
__device__ __forceinline__ void store4(__nv_bfloat16* dst, float4 v) {
    const __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
    uint2 u;
    u.x = *reinterpret_cast<const uint32_t*>(&lo);
    u.y = *reinterpret_cast<const uint32_t*>(&hi);
    *reinterpret_cast<uint2*>(dst) = u;
}

template <typename Out>
__global__ void __launch_bounds__(kThreads)
    qkSisoKernel(det::KDims d, ops::Mamba3PreprocessParams p, const float* __restrict__ proj,
                 const float* __restrict__ theta, Out* __restrict__ q, Out* __restrict__ k) {
    extern __shared__ float sh[];
    const int G = d.G, N = d.N, HA = d.H * d.A;
    float* normed = sh;            // [2G, N]: C rows, then B rows, normalised and weighted
    float* cosv = sh + 2 * G * N;  // [H, A]
    float* sinv = cosv + HA;
    const int64_t t = blockIdx.x;
    const float* row = proj + t * d.dInProj;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int j = warp; j < 2 * G; j += kThreads / 32) {
        const bool isB = j >= G;
        const float* src = row + (isB ? d.offB : d.offC) + int64_t(j - (isB ? G : 0)) * N;
        const float* w = isB ? p.bNorm : p.cNorm;
        float ss = 0.0f;
        for (int n = lane; n < N; n += 32) ss += src[n] * src[n];
        const float sc = rsqrtf(det::warpSum(ss) / float(N) + d.eps);
        for (int n = lane; n < N; n += 32) normed[j * N + n] = src[n] * sc * w[n];
    }
    for (int i = threadIdx.x; i < HA; i += kThreads) sincosf(theta[t * HA + i], &sinv[i], &cosv[i]);
    __syncthreads();
    const int quads = N / 4, perSide = d.H * quads, hpg = d.H / G;
    for (int e = threadIdx.x; e < 2 * perSide; e += kThreads) {
        const bool isK = e >= perSide;
        const int f = isK ? e - perSide : e, h = f / quads, n = (f - h * quads) * 4;
        const float* nv = normed + ((isK ? G : 0) + h / hpg) * N + n;
        const float4 b =
            *reinterpret_cast<const float4*>((isK ? p.bBias : p.cBias) + int64_t(h) * N + n);
        float4 v{nv[0] + b.x, nv[1] + b.y, nv[2] + b.z, nv[3] + b.w};
        const int a = n / 2;
        if (a < d.A) rotatePair(v.x, v.y, cosv[h * d.A + a], sinv[h * d.A + a]);
        if (a + 1 < d.A) rotatePair(v.z, v.w, cosv[h * d.A + a + 1], sinv[h * d.A + a + 1]);
        store4((isK ? k : q) + (t * d.H + h) * int64_t(N) + n, v);
    }
}

bool aligned16(const void* ptr) {
    return (reinterpret_cast<uintptr_t>(ptr) & 15) == 0;
}

bool fits(const ops::Mamba3Dims& dims, const ops::Mamba3PreprocessParams& p, int64_t rows) {
    const size_t smem = size_t(2 * dims.G * dims.N + 2 * dims.H * dims.A) * sizeof(float);
    return rows > 0 && !dims.mimo && dims.R == 1 && dims.N % 4 == 0 && dims.G > 0 &&
           dims.H % dims.G == 0 && smem <= kMaxShared && rows <= 2147483647 && aligned16(p.bBias) &&
           aligned16(p.cBias);
}

template <typename Out>
void launch(const ops::Mamba3Dims& dims, const ops::Mamba3PreprocessParams& p, const float* proj,
            int64_t rows, const float* theta, Out* q, Out* k, cudaStream_t s) {
    const size_t smem = size_t(2 * dims.G * dims.N + 2 * dims.H * dims.A) * sizeof(float);
    qkSisoKernel<Out>
        <<<unsigned(rows), kThreads, smem, s>>>(det::kdims(dims), p, proj, theta, q, k);
}

}  // namespace

bool mamba3_qk_rotated_siso_forward(const ops::Mamba3Dims& dims,
                                    const ops::Mamba3PreprocessParams& p, const float* proj,
                                    int64_t rows, const float* theta, float* q, float* k,
                                    cudaStream_t s) {
    if (!fits(dims, p, rows) || !aligned16(q) || !aligned16(k)) return false;
    launch(dims, p, proj, rows, theta, q, k, s);
    return true;
}

bool mamba3_qk_rotated_siso_bf16_forward(const ops::Mamba3Dims& dims,
                                         const ops::Mamba3PreprocessParams& p, const float* proj,
                                         int64_t rows, const float* theta, void* qb, void* kb,
                                         cudaStream_t s) {
    const auto aligned8 = [](const void* ptr) {
        return (reinterpret_cast<uintptr_t>(ptr) & 7) == 0;
    };
    if (!fits(dims, p, rows) || !aligned8(qb) || !aligned8(kb)) return false;
    launch(dims, p, proj, rows, theta, static_cast<__nv_bfloat16*>(qb),
           static_cast<__nv_bfloat16*>(kb), s);
    return true;
}

}  // namespace lectern::train::cuda
