// CUDA twin of training/optim/adamw.cpp adamw_tensor, operation for operation: the moments
// in float (m = β1 m + (1−β1) g, v = β2 v + ((1−β2) g) g), the bias-corrected step in double,
// w -= float(lr·(m̂/(√v̂ + eps) + wd·w)) with wd·w a float product, as the CPU writes it.
// The _rn intrinsics keep nvcc from contracting into FMAs, so the result is the CPU's to
// the bit where the CPU does not contract either (x86-64 without -mfma does not).
// Also grad_sumsq, the global norm's sum of squares, for clipping and the finiteness guard.
#include "common.cuh"
#include "training/cuda/ops_backward_cuda.h"

#include <algorithm>
#include <cmath>

namespace lectern::train::cuda {
namespace {

namespace det = lectern::cuda::detail;

struct AdamWKernelArgs {
    float b1, omb1, b2, omb2, wd, gradFactor;
    double lr, eps, bc1, bc2;
};

// One element's update (weight decay wd).
__device__ __forceinline__ void adamwElement(const AdamWKernelArgs& a, float wd, float* w,
                                             const float* g, float* m, float* v, int64_t j) {
    const float gj = __fmul_rn(g[j], a.gradFactor);
    const float mj = __fadd_rn(__fmul_rn(a.b1, m[j]), __fmul_rn(a.omb1, gj));
    const float vj = __fadd_rn(__fmul_rn(a.b2, v[j]), __fmul_rn(__fmul_rn(a.omb2, gj), gj));
    m[j] = mj, v[j] = vj;
    const double mh = __ddiv_rn(double(mj), a.bc1), vh = __ddiv_rn(double(vj), a.bc2);
    const float wj = w[j];
    const double step =
        __dadd_rn(__ddiv_rn(mh, __dadd_rn(__dsqrt_rn(vh), a.eps)), double(__fmul_rn(wd, wj)));
    w[j] = __fsub_rn(wj, float(__dmul_rn(a.lr, step)));
}

__global__ void adamwKernel(AdamWKernelArgs a, float* __restrict__ w, const float* __restrict__ g,
                            float* __restrict__ m, float* __restrict__ v, int64_t n,
                            const double* __restrict__ guard) {
    if (guard != nullptr && !isfinite(*guard)) return;  // NUM-4: never update from NaN/inf
    for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n;
         j += int64_t(gridDim.x) * blockDim.x)
        adamwElement(a, a.wd, w, g, m, v, j);
}

// Every tensor of a flat buffer in one launch: a block per chunk (grid-stride over chunks).
__global__ void adamwChunksKernel(AdamWKernelArgs a, const AdamWChunk* __restrict__ chunks,
                                  int64_t nChunks, float* __restrict__ w,
                                  const float* __restrict__ g, float* __restrict__ m,
                                  float* __restrict__ v, const double* __restrict__ guard) {
    if (guard != nullptr && !isfinite(*guard)) return;  // NUM-4, as above
    for (int64_t c = blockIdx.x; c < nChunks; c += gridDim.x) {
        const AdamWChunk ch = chunks[c];
        const float wd = ch.decay ? a.wd : 0.0f;
        for (int64_t j = ch.offset + threadIdx.x; j < ch.offset + ch.n; j += blockDim.x)
            adamwElement(a, wd, w, g, m, v, j);
    }
}

constexpr int kSumThreads = 256;

__global__ void sumsqKernel(const float* __restrict__ g, int64_t n, double* __restrict__ sumsq,
                            unsigned* __restrict__ nonFinite) {
    __shared__ double part[kSumThreads / 32];
    double s = 0.0;
    bool bad = false;
    for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n;
         j += int64_t(gridDim.x) * blockDim.x) {
        const float x = g[j];
        s += double(x) * double(x);
        bad |= !isfinite(x);
    }
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) part[warp] = s;
    if (nonFinite != nullptr && __syncthreads_or(bad) && threadIdx.x == 0) atomicOr(nonFinite, 1u);
    __syncthreads();
    if (threadIdx.x == 0) {
        double t = 0.0;
        for (int w = 0; w < kSumThreads / 32; ++w) t += part[w];
        atomicAdd(sumsq, t);
    }
}

AdamWKernelArgs kernelArgs(const AdamWStep& a) {
    AdamWKernelArgs k{};
    k.b1 = float(a.beta1), k.omb1 = float(1.0 - a.beta1);
    k.b2 = float(a.beta2), k.omb2 = float(1.0 - a.beta2);
    k.wd = a.wd, k.gradFactor = a.gradFactor;
    k.lr = a.lr, k.eps = a.eps;
    k.bc1 = 1.0 - std::pow(a.beta1, double(a.step));  // host pow, as the CPU
    k.bc2 = 1.0 - std::pow(a.beta2, double(a.step));
    return k;
}

}  // namespace

cudaError_t adamw_step(const AdamWStep& a, float* w, const float* g, float* m, float* v, int64_t n,
                       const double* guard, cudaStream_t s) {
    if (n <= 0) return cudaSuccess;
    if (a.step < 1) return cudaErrorInvalidValue;
    const AdamWKernelArgs k = kernelArgs(a);
    const unsigned blocks = unsigned(std::min<int64_t>(det::gridFor(n, 256), 4096));
    adamwKernel<<<blocks, 256, 0, s>>>(k, w, g, m, v, n, guard);
    return cudaGetLastError();
}

cudaError_t adamw_step_chunks(const AdamWStep& a, const AdamWChunk* chunks, int64_t nChunks,
                              float* w, const float* g, float* m, float* v, const double* guard,
                              cudaStream_t s) {
    if (nChunks <= 0) return cudaSuccess;
    if (a.step < 1) return cudaErrorInvalidValue;
    const unsigned blocks = unsigned(std::min<int64_t>(nChunks, 4096));
    adamwChunksKernel<<<blocks, 256, 0, s>>>(kernelArgs(a), chunks, nChunks, w, g, m, v, guard);
    return cudaGetLastError();
}

std::vector<AdamWChunk> adamw_chunks(const std::vector<AdamWTensor>& tensors, int64_t chunk) {
    std::vector<AdamWChunk> out;
    chunk = std::max<int64_t>(chunk, 1);
    size_t i = 0;
    while (i < tensors.size()) {
        // A run: tensors that follow each other in the buffer with the same decay.
        const int64_t start = tensors[i].offset;
        int64_t end = start + tensors[i].n;
        const bool decay = tensors[i].decay;
        for (++i; i < tensors.size() && tensors[i].offset == end && tensors[i].decay == decay; ++i)
            end += tensors[i].n;
        for (int64_t o = start; o < end; o += chunk)
            out.push_back(AdamWChunk{o, std::min(chunk, end - o), decay ? 1 : 0});
    }
    return out;
}

cudaError_t grad_sumsq(const float* g, int64_t n, double* sumsq, unsigned* nonFinite,
                       cudaStream_t s) {
    if (n <= 0) return cudaSuccess;
    const unsigned blocks = unsigned(std::min<int64_t>(det::gridFor(n, kSumThreads), 1024));
    sumsqKernel<<<blocks, kSumThreads, 0, s>>>(g, n, sumsq, nonFinite);
    return cudaGetLastError();
}

}  // namespace lectern::train::cuda
