// Helpers shared by every kernel in kernels/: warp and block reductions, grid sizing.
// Reductions accumulate in fp32; the CPU twins use double, so the two differ by fp32
// rounding only (far below the 1e-4 model tolerance).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "ops/mamba3_dims.h"

namespace lectern::cuda::detail {

constexpr float kPi = 3.14159265358979323846f;

__device__ __forceinline__ float warpSum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Sum over the block; `sh` holds at least 32 floats. Every thread gets the total.
__device__ __forceinline__ float blockSum(float v, float* sh) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int nWarps = (blockDim.x + 31) >> 5;
    v = warpSum(v);
    __syncthreads();  // sh may still be read by a previous call
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    float t = lane < nWarps ? sh[lane] : 0.0f;
    return warpSum(t);
}

__device__ __forceinline__ float siluf(float u) {
    return u / (1.0f + __expf(-u));
}

// Mamba3Dims with its offsets precomputed: the header's member functions are host-only.
struct KDims {
    int H, P, N, R, G, A;
    bool mimo;
    float aFloor, eps;
    int64_t dInner, offZ, offX, offB, offC, offDt, offA, offTrap, offAngles, dInProj;
};

inline KDims kdims(const ops::Mamba3Dims& d) {
    return KDims{d.H,       d.P,      d.N,         d.R,           d.G,        d.A,      d.mimo,
                 d.aFloor,  d.eps,    d.dInner(),  d.offZ(),      d.offX(),   d.offB(), d.offC(),
                 d.offDt(), d.offA(), d.offTrap(), d.offAngles(), d.dInProj()};
}

inline unsigned gridFor(int64_t n, int threads) {
    return unsigned((n + threads - 1) / threads);
}

}  // namespace lectern::cuda::detail
