// CUDA twin of training/loss.cpp: next-token cross-entropy and its gradient in one pass per
// row. One block per row: each thread keeps an online softmax (running max m and Σ e^{x−m},
// rescaled when the max grows) over its columns, the block merges the pairs, and the
// log-sum-exp m + log Σ is taken in double; then the same block writes dlogits. The row's
// loss is added to the double *lossSum with one atomicAdd (doubles: the order of the adds
// changes nothing visible next to the ~1e-7 of the fp32 exponentials). Optional per-row
// gradient weights (--answer-weight) scale gradScale for that row; null leaves it as it was.
#include <cuda_bf16.h>

#include "common.cuh"
#include "training/cuda/ops_backward_cuda.h"

namespace lectern::train::cuda {
namespace {

constexpr int kThreads = 512;

struct MaxSum {
    float m, s;
};

// Merges two online-softmax pairs (one exponential); an empty pair has m = −inf, s = 0.
__device__ MaxSum merge(MaxSum a, MaxSum b) {
    if (isnan(a.m) || isnan(b.m)) return MaxSum{NAN, NAN};
    if (a.m < b.m) {
        const MaxSum t = a;
        a = b, b = t;
    }
    if (a.m == -INFINITY) return MaxSum{a.m, 0.0f};
    return MaxSum{a.m, a.s + b.s * expf(b.m - a.m)};
}

__device__ void put(float* p, float v) {
    *p = v;
}
__device__ void put(__nv_bfloat16* p, float v) {
    *p = __float2bfloat16(v);
}

// Grad: float, or __nv_bfloat16 (the bf16 step).
template <typename Grad>
__global__ void crossEntropyKernel(const float* __restrict__ logits,
                                   const int32_t* __restrict__ ids, int64_t T, int64_t V,
                                   double* __restrict__ lossSum, double gradScale,
                                   Grad* __restrict__ dlogits,
                                   const float* __restrict__ rowWeights) {
    const int64_t row = blockIdx.x;
    const int64_t t = row % T;
    const float* x = logits + row * V;
    Grad* dx = dlogits ? dlogits + row * V : nullptr;
    if (t == T - 1) {  // the last token predicts nothing
        if (dx)
            for (int64_t v = threadIdx.x; v < V; v += blockDim.x) put(dx + v, 0.0f);
        return;
    }
    MaxSum ms{-INFINITY, 0.0f};
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x) ms = merge(ms, MaxSum{x[v], 1.0f});
    for (int o = 16; o > 0; o >>= 1) {
        const MaxSum other{__shfl_xor_sync(0xffffffffu, ms.m, o),
                           __shfl_xor_sync(0xffffffffu, ms.s, o)};
        ms = merge(ms, other);
    }
    __shared__ MaxSum warpMs[32];
    __shared__ double lseShared;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) warpMs[warp] = ms;
    __syncthreads();
    const int32_t target = ids[row + 1];
    const bool targetOk = target >= 0 && int64_t(target) < V;
    if (threadIdx.x == 0) {
        MaxSum all{-INFINITY, 0.0f};
        for (int w = 0; w < int(blockDim.x >> 5); ++w) all = merge(all, warpMs[w]);
        const double lse = double(all.m) + log(double(all.s));
        lseShared = lse;
        atomicAdd(lossSum, targetOk ? lse - double(x[target]) : double(NAN));
    }
    __syncthreads();
    if (dx == nullptr) return;
    const double lse = lseShared;
    const double scale = rowWeights ? gradScale * double(rowWeights[row]) : gradScale;
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
        const double prob = double(expf(float(double(x[v]) - lse)));
        put(dx + v, float(scale * (v == target ? prob - 1.0 : prob)));
    }
}

}  // namespace

cudaError_t cross_entropy_forward_backward(const float* logits, const int32_t* ids, int64_t batch,
                                           int64_t T, int64_t V, double* lossSum, double gradScale,
                                           float* dlogits, cudaStream_t s,
                                           const float* rowWeights) {
    if (batch <= 0 || T <= 0 || V <= 0) return cudaSuccess;
    crossEntropyKernel<<<unsigned(batch * T), kThreads, 0, s>>>(logits, ids, T, V, lossSum,
                                                                gradScale, dlogits, rowWeights);
    return cudaGetLastError();
}

cudaError_t cross_entropy_forward_backward_bf16(const float* logits, const int32_t* ids,
                                                int64_t batch, int64_t T, int64_t V,
                                                double* lossSum, double gradScale, void* dlogits,
                                                cudaStream_t s, const float* rowWeights) {
    if (batch <= 0 || T <= 0 || V <= 0) return cudaSuccess;
    crossEntropyKernel<<<unsigned(batch * T), kThreads, 0, s>>>(
        logits, ids, T, V, lossSum, gradScale, static_cast<__nv_bfloat16*>(dlogits), rowWeights);
    return cudaGetLastError();
}

}  // namespace lectern::train::cuda
