// The bf16 SISO prefill's preprocess in three launches instead of five passes over the
// tokens (scalars + increments, segment sums, running angles, state copy, q/k): the angle
// increments tanh(angles[a])·π·dt[h] are made where they are summed and never stored, and
// q/k are normalised, rotated and written in bf16 by the thread that holds the running
// angle, so neither dtheta nor theta goes through device memory (NOTES-gpu.md, prefill
// fifth pass). One thread per (document, segment of tokens, head, angle), a angle fastest.
//   1. segment totals: each thread sums its segment's increments (double); the a == 0
//      threads write the head's dt, A·dt and trap for those tokens;
//   2. segment bases: per (document, head, angle), the state plus the earlier totals
//      (double), and the final angle, wrapped, into the state;
//   3. walk: each thread re-makes its increments, runs its angle from the base, and writes
//      its head's q/k pairs (n = 2m, 2m + 1 for m = a, a + A, ...; only m = a rotated).
// One segment (T <= kSegMin): the CPU's fp32 sequence, launches 1 and 3 only.
#include <cuda_bf16.h>

#include "common.cuh"
#include "cuda/cuda_ops.h"
#include "mamba3_scalars.cuh"

namespace lectern::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int64_t kSegMin = 64;    // tokens a segment walks at least
constexpr int64_t kSegMax = 1024;  // segments a document is cut into at most
constexpr double kTwoPiD = 2.0 * 3.14159265358979323846;

struct Segs {
    int64_t T, len;
    int n;
};

Segs segmentsFor(int64_t T) {
    const int64_t len = std::max(kSegMin, (T + kSegMax - 1) / kSegMax);
    return {T, len, int((T + len - 1) / len)};
}

// Into [0, 2π) up to rounding (by the reciprocal: no double division per token).
__device__ __forceinline__ double wrapD(double u) {
    return u - kTwoPiD * floor(u * (1.0 / kTwoPiD));
}

// The angle increment of (row, head h, angle a), as preprocessKernel makes it.
__device__ __forceinline__ float angleInc(const detail::KDims& d, const float* row, float dtB,
                                          int h, int a, float* dtOut) {
    const float dth = detail::softplusF(row[d.offDt + h] + dtB);
    *dtOut = dth;
    return tanhf(row[d.offAngles + a]) * detail::kPi * dth;
}

__global__ void segTotalsKernel(detail::KDims d, ops::Mamba3PreprocessParams p,
                                const float* __restrict__ proj, Segs sg,
                                double* __restrict__ totals, float* __restrict__ dt,
                                float* __restrict__ adt, float* __restrict__ trap) {
    const int64_t HA = int64_t(d.H) * d.A;
    const int64_t ha = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (ha >= HA) return;
    const int64_t b = blockIdx.y / sg.n, seg = blockIdx.y % sg.n;
    const int h = int(ha / d.A), a = int(ha % d.A);
    const int64_t t0 = seg * sg.len, t1 = min(sg.T, t0 + sg.len);
    const float dtB = p.dtBias[h];
    double run = 0.0;
#pragma unroll 4
    for (int64_t t = t0; t < t1; ++t) {
        const int64_t r = b * sg.T + t;
        const float* row = proj + r * d.dInProj;
        float dth;
        run += double(angleInc(d, row, dtB, h, a, &dth));
        if (a == 0) {
            const float aa = fminf(-detail::heavyTailF(row[d.offA + h]), -d.aFloor);
            dt[r * d.H + h] = dth;
            adt[r * d.H + h] = aa * dth;
            trap[r * d.H + h] = 1.0f / (1.0f + expf(-row[d.offTrap + h]));
        }
    }
    if (sg.n > 1) totals[int64_t(blockIdx.y) * HA + ha] = run;
}

// totals [batch, nSeg, HA] -> each segment's starting angle, in place; the final angle
// into the state (launch 3 does not read the state when there are several segments).
__global__ void segBasesKernel(double* totals, float* angleState, int64_t batch, int nSeg,
                               int64_t HA) {
    const int64_t gid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (gid >= batch * HA) return;
    const int64_t b = gid / HA, ha = gid % HA;
    double* tot = totals + b * nSeg * HA + ha;
    // Unwrapped (a chain of adds only; |base| stays far below where double loses 1e-9 rad):
    // the walk wraps base + run. Eight totals loaded before any is overwritten, so eight
    // loads are in flight (one at a time, the walk over 256 segments was latency-bound).
    double base = angleState[gid];
    constexpr int kBatch = 8;
    for (int s0 = 0; s0 < nSeg; s0 += kBatch) {
        double add[kBatch];
#pragma unroll
        for (int j = 0; j < kBatch; ++j) add[j] = s0 + j < nSeg ? tot[int64_t(s0 + j) * HA] : 0.0;
#pragma unroll
        for (int j = 0; j < kBatch; ++j) {
            if (s0 + j < nSeg) tot[int64_t(s0 + j) * HA] = base;
            base += add[j];
        }
    }
    base = wrapD(base);
    angleState[gid] = float(base);
}

// The RMSNorm scales of the C and B rows of group g (the same sums, in the same order, as
// qkRotatedKernel's). The whole warp calls it.
__device__ __forceinline__ float2 groupScales(const detail::KDims& d, const float* row, int g) {
    const int lane = threadIdx.x & 31;
    const float* c = row + d.offC + int64_t(g) * d.N;
    const float* bb = row + d.offB + int64_t(g) * d.N;
    float sc = 0.0f, sb = 0.0f;
    for (int n = lane; n < d.N; n += 32) {
        sc += c[n] * c[n];
        sb += bb[n] * bb[n];
    }
    return {rsqrtf(detail::warpSum(sc) / float(d.N) + d.eps),
            rsqrtf(detail::warpSum(sb) / float(d.N) + d.eps)};
}

// The norm weights and head biases of a pair (n, n + 1), C's then B's: the same for every
// token, so held in registers over the walk.
struct PairWeights {
    float2 cw, cb, bw, bb;
};

__device__ __forceinline__ PairWeights pairWeights(const ops::Mamba3PreprocessParams& p,
                                                   const float* cBias, const float* bBias, int n) {
    return {{p.cNorm[n], p.cNorm[n + 1]},
            {cBias[n], cBias[n + 1]},
            {p.bNorm[n], p.bNorm[n + 1]},
            {bBias[n], bBias[n + 1]}};
}

// One normalised (and for rot, rotated) pair (n, n + 1) of a C or B row.
__device__ __forceinline__ __nv_bfloat162 qkPair(const float* src, float2 w, float2 bias, int n,
                                                 float sc, bool rot, float cs, float sn,
                                                 float2* f32) {
    float v0 = src[n] * sc * w.x + bias.x;
    float v1 = src[n + 1] * sc * w.y + bias.y;
    if (rot) {
        const float r0 = v0 * cs - v1 * sn;
        v1 = v0 * sn + v1 * cs;
        v0 = r0;
    }
    *f32 = {v0, v1};
    return __floats2bfloat162_rn(v0, v1);
}

__global__ void __launch_bounds__(kThreads)
    walkKernel(detail::KDims d, ops::Mamba3PreprocessParams p, const float* __restrict__ proj,
               Segs sg, const double* __restrict__ bases, float* __restrict__ angleState,
               __nv_bfloat16* __restrict__ qb, __nv_bfloat16* __restrict__ kb,
               float* __restrict__ kLast) {
    const int64_t HA = int64_t(d.H) * d.A;
    const int64_t ha = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    // Threads past HA stay for the warp's norm sums but write nothing.
    const bool live = ha < HA;
    const int64_t hac = live ? ha : HA - 1;
    const int64_t b = blockIdx.y / sg.n, seg = blockIdx.y % sg.n;
    const int h = int(hac / d.A), a = int(hac % d.A), hpg = d.H / d.G, g = h / hpg;
    // The groups this warp's heads belong to (uniform over the warp).
    const int64_t warp0 = ha - (threadIdx.x & 31);
    const int gLo = int(warp0 / d.A) / hpg, gHi = int(min(warp0 + 31, HA - 1) / d.A) / hpg;
    const int64_t t0 = seg * sg.len, t1 = min(sg.T, t0 + sg.len);
    const float dtB = p.dtBias[h];
    const float* cBias = p.cBias + int64_t(h) * d.N;
    const float* bBias = p.bBias + int64_t(h) * d.N;
    const PairWeights pw0 = pairWeights(p, cBias, bBias, 2 * a);
    const PairWeights pw1 = a + d.A < d.N / 2 ? pairWeights(p, cBias, bBias, 2 * (a + d.A)) : pw0;
    const bool one = sg.n == 1;
    const float twoPi = 2.0f * detail::kPi;
    float theta = one ? angleState[b * HA + hac] : 0.0f;
    const double base = one ? 0.0 : bases[int64_t(blockIdx.y) * HA + hac];
    double run = 0.0;
    const int64_t rowQK = int64_t(d.H) * d.N;
#pragma unroll 2
    for (int64_t t = t0; t < t1; ++t) {
        const int64_t r = b * sg.T + t;
        const float* row = proj + r * d.dInProj;
        float2 scl = {0.0f, 0.0f};
        for (int gg = gLo; gg <= gHi; ++gg) {
            const float2 s2 = groupScales(d, row, gg);
            if (gg == g) scl = s2;
        }
        float dth;
        const float inc = angleInc(d, row, dtB, h, a, &dth);
        if (one) {  // the CPU's own sequence
            const float u = theta + inc;
            theta = u - twoPi * floorf(u / twoPi);
        } else {
            run += double(inc);
            theta = float(wrapD(base + run));
        }
        if (!live) continue;
        float sn, cs;
        sincosf(theta, &sn, &cs);
        const float* c = row + d.offC + int64_t(g) * d.N;
        const float* bsrc = row + d.offB + int64_t(g) * d.N;
        const int64_t at = r * rowQK + int64_t(h) * d.N;
        const bool last = t == sg.T - 1;
        // m = a (rotated), a + A, a + 2A, ...: the first two with their weights in registers
        // (all of them for rope fractions 1/2 and 1), any further ones loaded.
        for (int m = a, i = 0; m < d.N / 2; m += d.A, ++i) {
            const int n = 2 * m;
            const PairWeights pw = i == 0 ? pw0 : i == 1 ? pw1 : pairWeights(p, cBias, bBias, n);
            float2 f;
            *reinterpret_cast<__nv_bfloat162*>(qb + at + n) =
                qkPair(c, pw.cw, pw.cb, n, scl.x, i == 0, cs, sn, &f);
            *reinterpret_cast<__nv_bfloat162*>(kb + at + n) =
                qkPair(bsrc, pw.bw, pw.bb, n, scl.y, i == 0, cs, sn, &f);
            if (last) *reinterpret_cast<float2*>(kLast + at + n) = f;
        }
    }
    if (one && live) angleState[b * HA + ha] = theta;
}

}  // namespace

bool prefill_qk_angles_bf16_forward(const ops::Mamba3Dims& d, const ops::Mamba3PreprocessParams& p,
                                    const float* proj, int64_t batch, int64_t T, float* angleState,
                                    void* segScratch, size_t segScratchBytes, void* qb, void* kb,
                                    float* kLast, float* dt, float* adt, float* trap,
                                    cudaStream_t s) {
    if (d.mimo || d.R != 1 || d.A <= 0 || d.N % 2 != 0 || 2 * d.A > d.N || batch <= 0 || T <= 0)
        return false;
    const Segs sg = segmentsFor(T);
    const int64_t HA = int64_t(d.H) * d.A;
    const size_t need = sg.n > 1 ? size_t(batch) * sg.n * HA * sizeof(double) : 0;
    if (need > segScratchBytes || uint64_t(batch) * sg.n > 65535) return false;
    auto* totals = static_cast<double*>(segScratch);
    const dim3 grid(detail::gridFor(HA, kThreads), unsigned(batch * sg.n));
    const detail::KDims kd = detail::kdims(d);
    segTotalsKernel<<<grid, kThreads, 0, s>>>(kd, p, proj, sg, totals, dt, adt, trap);
    if (sg.n > 1)
        segBasesKernel<<<detail::gridFor(batch * HA, kThreads), kThreads, 0, s>>>(
            totals, angleState, batch, sg.n, HA);
    walkKernel<<<grid, kThreads, 0, s>>>(kd, p, proj, sg, totals, angleState,
                                         static_cast<__nv_bfloat16*>(qb),
                                         static_cast<__nv_bfloat16*>(kb), kLast);
    return true;
}

}  // namespace lectern::cuda
