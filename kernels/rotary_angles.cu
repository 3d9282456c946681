// CUDA twin of engine/cpu/rotary_angles.cpp. One warp per (document, head, angle): the
// warp takes 32 tokens at a time, adds their increments with a warp prefix sum to the
// running angle, wraps into [0, 2π) and rotates that pair of q and k for every rank. The
// CPU wraps after every token; wrapping after up to 32 adds differs by fp32 rounding of
// the sum only (the tests bound it).
#include "common.cuh"
#include "cuda/cuda_ops.h"

namespace lectern::cuda {
namespace {

__device__ void rotatePair(float* v, int i0, int i1, float c, float s) {
    const float u = v[i0], w = v[i1];
    v[i0] = u * c - w * s;
    v[i1] = u * s + w * c;
}

__global__ void rotaryKernel(detail::KDims d, float* q, float* k, float* angleState,
                             const float* dtheta, int64_t batch, int64_t T) {
    const int64_t gw = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (gw >= batch * d.H * d.A) return;  // whole warps leave together
    const int a = int(gw % d.A), h = int((gw / d.A) % d.H);
    const int64_t b = gw / (int64_t(d.A) * d.H);
    const float twoPi = 2.0f * detail::kPi;
    float* theta = angleState + (b * d.H + h) * d.A + a;
    float run = *theta;
    const int i0 = d.mimo ? a : 2 * a, i1 = d.mimo ? a + d.N / 2 : 2 * a + 1;
    const int64_t qkStride = int64_t(d.R) * d.H * d.N;
    for (int64_t t0 = 0; t0 < T; t0 += 32) {
        const int64_t t = t0 + lane;
        const int64_t row = b * T + t;
        float inc = t < T ? dtheta[(row * d.H + h) * d.A + a] : 0.0f;
        for (int o = 1; o < 32; o <<= 1) {  // inclusive prefix sum
            const float up = __shfl_up_sync(0xffffffffu, inc, o);
            if (lane >= o) inc += up;
        }
        float th = run + inc;
        th = th - twoPi * floorf(th / twoPi);
        run = __shfl_sync(0xffffffffu, th, 31);
        if (t < T) {
            float sn, cs;
            sincosf(th, &sn, &cs);
            for (int r = 0; r < d.R; ++r) {
                const int64_t off = row * qkStride + (int64_t(r) * d.H + h) * d.N;
                rotatePair(q + off, i0, i1, cs, sn);
                rotatePair(k + off, i0, i1, cs, sn);
            }
        }
    }
    if (lane == 0) *theta = run;
}

}  // namespace

void rotary_angles_forward(const ops::Mamba3Dims& d, float* q, float* k, float* angleState,
                           const float* dtheta, int64_t batch, int64_t T, cudaStream_t s) {
    if (batch <= 0 || T <= 0 || d.A <= 0) return;
    const int64_t threads = batch * d.H * d.A * 32;
    rotaryKernel<<<detail::gridFor(threads, 128), 128, 0, s>>>(detail::kdims(d), q, k, angleState,
                                                               dtheta, batch, T);
}

}  // namespace lectern::cuda
