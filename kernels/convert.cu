// Utilities that are not model ops: fp32 -> bf16 weight copies, and a hash-based uniform
// fill used to make large random benchmark weights on the device (counter-based, so the
// same seed gives the same values whatever the launch shape).
#include <cuda_bf16.h>

#include "common.cuh"
#include "cuda/cuda_ops.h"

namespace lectern::cuda {
namespace {

__global__ void toBf16Kernel(__nv_bfloat16* dst, const float* src, int64_t n) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x)
        dst[i] = __float2bfloat16(src[i]);
}

__device__ uint64_t mix64(uint64_t z) {  // splitmix64 finaliser
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

__global__ void fillUniformKernel(float* dst, int64_t n, float lo, float hi, uint64_t seed) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const uint64_t h = mix64(seed * 0x9E3779B97F4A7C15ull + uint64_t(i));
        const float u = float(h >> 40) * (1.0f / 16777216.0f);
        dst[i] = lo + (hi - lo) * u;
    }
}

}  // namespace

void to_bf16(void* dst, const float* src, int64_t n, cudaStream_t s) {
    if (n <= 0) return;
    const unsigned blocks = unsigned(std::min<int64_t>(detail::gridFor(n, 256), 8192));
    toBf16Kernel<<<blocks, 256, 0, s>>>(static_cast<__nv_bfloat16*>(dst), src, n);
}

void fill_uniform(float* dst, int64_t n, float lo, float hi, uint64_t seed, cudaStream_t s) {
    if (n <= 0) return;
    const unsigned blocks = unsigned(std::min<int64_t>(detail::gridFor(n, 256), 8192));
    fillUniformKernel<<<blocks, 256, 0, s>>>(dst, n, lo, hi, seed);
}

}  // namespace lectern::cuda
