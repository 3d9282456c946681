// CUDA twin of training/backward/rotary_angles_backward.cpp (NOTES-rotary_angles.md). For a
// rotated pair (u', w') = R(θ)(u, w) with incoming gradient (gu, gw):
//   ∂L/∂θ_t += gw·u' − gu·w'   (over q, k and the R ranks);   (gu, gw) <- R(−θ)(gu, gw)
// and, θ_t being a running sum of the increments (the wrap has slope 1), ∂L/∂dθ_s is the
// reverse cumulative sum Σ_{t>=s} ∂L/∂θ_t over the document.
// Launches: (replay: θ in the CPU's float operations, one thread per (b, h, a)); pairs: one
// thread per (row, h, a), ∂L/∂θ_t into scratch; reverse sum: a parallel suffix scan, each
// (b, h, a) column's T tokens cut into kSegs segments (a block: kCols adjacent columns, for
// coalescing, times kSegs segments): every thread sums its segment, adds the sums of the
// segments after it, then walks its own segment back, in double throughout. One thread
// walking all T tokens of a column took 44 ms a step at 4 x 4096 on the H100 (24 layers:
// 3,072 threads, 4,096 dependent loads each).
#include "common.cuh"
#include "mamba3_preprocess_backward_parts.cuh"
#include "training/cuda/ops_backward_cuda.h"

namespace lectern::train::cuda {
namespace {

namespace det = lectern::cuda::detail;

__global__ void replayKernel(const float* __restrict__ angle0, const float* __restrict__ dtheta,
                             int64_t batch, int64_t T, int64_t HA, float* __restrict__ theta) {
    const int64_t gid = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (gid >= batch * HA) return;
    const int64_t b = gid / HA, ha = gid - b * HA;
    const float twoPi = 2.0f * det::kPi;
    float cur = angle0 ? angle0[gid] : 0.0f;
    for (int64_t t = 0; t < T; ++t) {
        const int64_t i = (b * T + t) * HA + ha;
        const float u = __fadd_rn(cur, dtheta[i]);
        // _rn: no FMA contraction, so the wrap is the CPU's operation for operation.
        cur = __fsub_rn(u, __fmul_rn(twoPi, floorf(__fdiv_rn(u, twoPi))));
        theta[i] = cur;
    }
}

// theta and dthOut may alias (the same thread reads, then writes, one element). Per rank, the
// eight values of the q and k pairs are all loaded before any store (a store to dq between
// them kept the k loads waiting: the compiler cannot tell dq from k).
__global__ void pairsKernel(det::KDims d, const float* __restrict__ q, const float* __restrict__ k,
                            const float* theta, int64_t rows, float* __restrict__ dq,
                            float* __restrict__ dk, float* dthOut) {
    const int64_t HA = int64_t(d.H) * d.A;
    const int64_t gid = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (gid >= rows * HA) return;
    const int64_t row = gid / HA, ha = gid - row * HA;
    const int h = int(ha / d.A), a = int(ha - int64_t(h) * d.A);
    const int i0 = d.mimo ? a : 2 * a, i1 = d.mimo ? a + d.N / 2 : 2 * a + 1;
    float sn, cs;
    sincosf(theta[gid], &sn, &cs);
    const int64_t qkStride = int64_t(d.R) * d.H * d.N;
    double dth = 0.0;
    for (int r = 0; r < d.R; ++r) {
        const int64_t off = row * qkStride + (int64_t(r) * d.H + h) * d.N;
        const float qu = __ldg(q + off + i0), qw = __ldg(q + off + i1);
        const float ku = __ldg(k + off + i0), kw = __ldg(k + off + i1);
        const float gqu = dq[off + i0], gqw = dq[off + i1];
        const float gku = dk[off + i0], gkw = dk[off + i1];
        // ∂L/∂θ += gw·u' − gu·w' (q, then k); (gu, gw) <- R(−θ)(gu, gw)
        dth += double(gqw) * qu - double(gqu) * qw;
        dth += double(gkw) * ku - double(gku) * kw;
        dq[off + i0] = gqu * cs + gqw * sn;
        dq[off + i1] = -gqu * sn + gqw * cs;
        dk[off + i0] = gku * cs + gkw * sn;
        dk[off + i1] = -gku * sn + gkw * cs;
    }
    dthOut[gid] = float(dth);
}

// A block: kCols adjacent columns times kSegs segments. 16 x 64 rather than 32 x 32: at
// 4 x 4,096 with H·A = 768 the 32-column form made 96 blocks (fewer than the H100's 132 SMs)
// whose threads each walked 128 dependent tokens; this one makes 192 of half the walk.
constexpr int kCols = 16;
constexpr int kSegs = 64;

// grid (⌈HA/kCols⌉, batch), block (kCols, kSegs). kWrite: ddtheta is written, not added to.
template <bool kWrite>
__global__ void reverseSumKernel(const float* __restrict__ dth, int64_t T, int64_t HA,
                                 float* __restrict__ ddtheta) {
    __shared__ double segSum[kSegs][kCols];
    const int64_t ha = blockIdx.x * int64_t(kCols) + threadIdx.x, b = blockIdx.y;
    const int64_t seg = (T + kSegs - 1) / kSegs;
    const int64_t t0 = threadIdx.y * seg, t1 = t0 + seg < T ? t0 + seg : T;
    const bool live = ha < HA;
    const int64_t base = b * T * HA + ha;
    double sum = 0.0;
    if (live)
#pragma unroll 8
        for (int64_t t = t0; t < t1; ++t) sum += double(dth[base + t * HA]);
    segSum[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (!live) return;
    double acc = 0.0;  // the tokens after this segment
    for (int y = kSegs - 1; y > int(threadIdx.y); --y) acc += segSum[y][threadIdx.x];
#pragma unroll 8
    for (int64_t t = t1 - 1; t >= t0; --t) {
        const int64_t i = base + t * HA;
        acc += double(dth[i]);
        if constexpr (kWrite)
            ddtheta[i] = float(acc);
        else
            ddtheta[i] += float(acc);
    }
}

}  // namespace

cudaError_t rotary_theta_replay(const ops::Mamba3Dims& d, const float* angle0, const float* dtheta,
                                int64_t batch, int64_t T, float* theta, cudaStream_t s) {
    const int64_t HA = int64_t(d.H) * d.A;
    if (batch <= 0 || T <= 0 || HA <= 0) return cudaSuccess;
    replayKernel<<<det::gridFor(batch * HA, 128), 128, 0, s>>>(angle0, dtheta, batch, T, HA, theta);
    return cudaGetLastError();
}

cudaError_t rotary_theta_backward(const ops::Mamba3Dims& dims, const float* q, const float* k,
                                  const float* theta, int64_t batch, int64_t T, float* dq,
                                  float* dk, float* ddtheta, float* scratch, cudaStream_t s,
                                  bool ddthetaWritten) {
    const int64_t HA = int64_t(dims.H) * dims.A, rows = batch * T;
    if (rows <= 0 || HA <= 0) return cudaSuccess;
    pairsKernel<<<det::gridFor(rows * HA, 128), 128, 0, s>>>(det::kdims(dims), q, k, theta, rows,
                                                             dq, dk, scratch);
    if (cudaError_t e = cudaGetLastError()) return e;
    return rotary_theta_reverse_sum(scratch, batch, T, HA, ddtheta, ddthetaWritten, s);
}

cudaError_t rotary_theta_reverse_sum(const float* dth, int64_t batch, int64_t T, int64_t HA,
                                     float* ddtheta, bool written, cudaStream_t s) {
    if (batch <= 0 || T <= 0 || HA <= 0) return cudaSuccess;
    const dim3 grid(unsigned((HA + kCols - 1) / kCols), unsigned(batch)), block(kCols, kSegs);
    if (written)
        reverseSumKernel<true><<<grid, block, 0, s>>>(dth, T, HA, ddtheta);
    else
        reverseSumKernel<false><<<grid, block, 0, s>>>(dth, T, HA, ddtheta);
    return cudaGetLastError();
}

cudaError_t rotary_angles_backward(const ops::Mamba3Dims& d, const float* q, const float* k,
                                   const float* angle0, const float* dtheta, int64_t batch,
                                   int64_t T, float* dq, float* dk, float* ddtheta, float* scratch,
                                   cudaStream_t s) {
    if (cudaError_t e = rotary_theta_replay(d, angle0, dtheta, batch, T, scratch, s)) return e;
    return rotary_theta_backward(d, q, k, scratch, batch, T, dq, dk, ddtheta, scratch, s);
}

}  // namespace lectern::train::cuda
