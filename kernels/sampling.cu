// CUDA twin of greedy decoding in engine/generate/sampling.cpp (argmaxFirst): the index of
// the first largest of logits[0, n), so that decode copies back one id instead of the
// logits. The CPU scan starts at 0 and moves only on '>': NaN never wins, a NaN at 0
// keeps 0, ties go to the lowest index. One block: n is a vocabulary (tens of thousands).
#include <cmath>
#include <cstdint>

#include "common.cuh"
#include "cuda/cuda_ops.h"

namespace lectern::cuda {
namespace {

constexpr int kThreads = 1024;

// (value, index) with the larger value, ties to the lower index; index INT32_MAX: none.
__device__ __forceinline__ void better(float& v, int32_t& i, float v2, int32_t i2) {
    if (v2 > v || (v2 == v && i2 < i)) {
        v = v2;
        i = i2;
    }
}

__global__ void argmaxFirstKernel(const float* logits, int n, int32_t* out) {
    float v = -INFINITY;
    int32_t idx = INT32_MAX;
    for (int j = threadIdx.x; j < n; j += kThreads) {
        const float x = logits[j];
        if (!isnan(x)) better(v, idx, x, j);
    }
    for (int o = 16; o > 0; o /= 2)
        better(v, idx, __shfl_down_sync(0xffffffffu, v, o), __shfl_down_sync(0xffffffffu, idx, o));
    __shared__ float sv[kThreads / 32];
    __shared__ int32_t si[kThreads / 32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0) {
        sv[warp] = v;
        si[warp] = idx;
    }
    __syncthreads();
    if (warp != 0) return;
    v = sv[lane];
    idx = si[lane];
    for (int o = 16; o > 0; o /= 2)
        better(v, idx, __shfl_down_sync(0xffffffffu, v, o), __shfl_down_sync(0xffffffffu, idx, o));
    if (lane == 0) *out = isnan(logits[0]) || idx == INT32_MAX ? 0 : idx;
}

}  // namespace

void argmax_first_forward(const float* logits, int n, int32_t* out, cudaStream_t s) {
    if (n <= 0) return;
    argmaxFirstKernel<<<1, kThreads, 0, s>>>(logits, n, out);
}

}  // namespace lectern::cuda
