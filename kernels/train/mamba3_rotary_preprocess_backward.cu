// The rotary backward and the preprocess backward in one pass over dq and dk
// (ops_backward_cuda.h, mamba3_rotary_preprocess_backward; issue 5, helper F3). Unfused, the
// rotary pairs read q, k, dq, dk and wrote the un-rotated dq, dk back, then the B/C norm
// backward read dq and dk again: ~0.7 GB a layer at 4 x 4096. Here one kernel reads the
// rotated gradients once, un-rotates them in registers and never writes them:
//   - q and k before rotation are recomputed from the B/C rows (RMSNorm · weight + bias), so
//     neither q nor k is read: ∂L/∂θ = gw·u' − gu·w' on the rotated pair equals the same cross
//     product of the un-rotated gradient with the un-rotated pair (a rotation keeps it);
//   - a block owns a stretch of rows; warp w takes heads w, w + 8, ... of every row, so each
//     (head, rank, n) bias sum has one owning lane in the block (shared memory, no atomics),
//     and the heads' sum for the norm goes through a per-warp shared row (double-buffered:
//     one __syncthreads a row), read by the warps that then run the B/C RMSNorm backward;
//   - per block, the bias and norm-weight sums are WRITTEN as partials, summed afterwards in
//     block order: the parameter gradients do not depend on timing (deterministic).
// Then the reverse sum over T of ∂L/∂θ (rotary_angles_backward.cu) and the per-head scalars
// (mamba3_preprocess_backward.cu, dtBias through partials too). A lane owns n = 4·lane + 128·j
// (float4 loads; N % 4 == 0, N <= 256); SISO pairs (2a, 2a+1) lie inside a lane's float4,
// MIMO pairs (a, a + N/2) meet through a per-warp shared row. fp32, ∂L/∂θ summed in double.

#include <cuda_pipeline.h>

#include "common.cuh"
#include "mamba3_preprocess_backward_parts.cuh"
#include "training/cuda/ops_backward_cuda.h"

namespace lectern::train::cuda {
namespace {

namespace det = lectern::cuda::detail;
constexpr int kWarps = 8;
constexpr int kThreads = 32 * kWarps;
constexpr int kBatch =
    3;                    // (head, rank) items whose loads are issued together (24 heads: 3 a warp)
constexpr int kMaxR = 4;  // MIMO ranks
constexpr int kMaxBlocks = 512;

struct Side {
    const float* g;      // dq (C) or dk (B), rotated [rows, R, H, N]
    const float* normW;  // [N]
    const float* bias;   // [H, R, N]
    int64_t off;         // the B or C columns of a proj row
};

struct Args {
    det::KDims d;
    const float* proj;
    const float* theta;  // [rows, H, A]
    Side side[2];        // 0: C with dq, 1: B with dk
    int64_t T;           // a document's rows; a block's rows never cross documents
    int64_t rowsPerBlock, blocksPerDoc;
    float* dproj;
    float* dth;       // [rows, H, A] ∂L/∂θ_t, WRITTEN
    float* partials;  // [gridDim.x, 2·H·R·N + 2·N], WRITTEN
    double* segSums;  // null, or [gridDim.x, H·A]: Σ of the block's dth (as stored), WRITTEN
};

__device__ __forceinline__ float4 ld4(const float* p) {
    return __ldg(reinterpret_cast<const float4*>(p));
}
__device__ __forceinline__ float4 operator+(float4 a, float4 b) {
    return {a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w};
}
__device__ __forceinline__ void addTo(float* p, float4 v) {
    float4& s = *reinterpret_cast<float4*>(p);
    s = s + v;
}
__device__ __forceinline__ float& at(float4& v, int c) {
    return c == 0 ? v.x : c == 1 ? v.y : c == 2 ? v.z : v.w;
}

// The rotated pair's gradient (gu, gw) <- R(−θ)(gu, gw); returns the un-rotated cross product
// gw·u − gu·w with the un-rotated pair (u, w): ∂L/∂θ of this pair.
__device__ __forceinline__ double unrotate(float& gu, float& gw, float u, float w, float c,
                                           float s) {
    const float nu = gu * c + gw * s, nw = -gu * s + gw * c;
    gu = nu, gw = nw;
    return double(nw) * u - double(nu) * w;
}

// f(j, n) for each of the lane's float4 slots j (elements n .. n + 3, n = 4·lane + 128·j) that
// lie within a row of N.
template <int NJ, class F>
__device__ __forceinline__ void forLaneSlots(int N, int lane, F&& f) {
#pragma unroll
    for (int j = 0; j < NJ; ++j) {
        const int n = 4 * lane + 128 * j;
        if (n < N) f(j, n);
    }
}

template <int NJ>
__device__ __forceinline__ void loadRow(const float* x, int N, int lane, float4 (&xv)[NJ]) {
#pragma unroll
    for (int j = 0; j < NJ; ++j) {
        const int n = 4 * lane + 128 * j;
        xv[j] = n < N ? float4{x[n], x[n + 1], x[n + 2], x[n + 3]} : float4{0, 0, 0, 0};
    }
}

// x·rs·w of the lane's n for one (side, r, g) B/C row x: the un-rotated q or k less the bias.
template <int NJ>
__device__ void normedRow(const det::KDims& d, const float4 (&xv)[NJ], const float* normW, int lane,
                          float4 (&out)[NJ]) {
    float ss = 0.0f;
#pragma unroll
    for (int j = 0; j < NJ; ++j)
        ss += xv[j].x * xv[j].x + xv[j].y * xv[j].y + xv[j].z * xv[j].z + xv[j].w * xv[j].w;
    const float rs = 1.0f / sqrtf(det::warpSum(ss) / float(d.N) + d.eps);
#pragma unroll
    for (int j = 0; j < NJ; ++j) {
        const int n = 4 * lane + 128 * j;
        const float4 w = n < d.N ? ld4(normW + n) : float4{0, 0, 0, 0};
        out[j] = {xv[j].x * rs * w.x, xv[j].y * rs * w.y, xv[j].z * rs * w.z, xv[j].w * rs * w.w};
    }
}

// The B/C RMSNorm backward of row t, from the heads' sums every warp left in dnRow ([kWarps]
// [2][R·G·N]): warp kWarps − 1 − q % kWarps takes the (side, r, g) row q = side·R·G + rg.
template <int NJ>
__device__ void normRowBackward(const Args& A, int64_t t, const float* dnRow, int lane, int warp,
                                float4 (&dw)[2][NJ]) {
    const det::KDims& d = A.d;
    const int N = d.N, RG = d.R * d.G, RGN = RG * N;
    const float* row = A.proj + t * d.dInProj;
#pragma unroll
    for (int s = 0; s < 2; ++s)
        for (int rg = 0; rg < RG; ++rg) {
            if (kWarps - 1 - (s * RG + rg) % kWarps != warp) continue;
            const float* x = row + A.side[s].off + int64_t(rg) * N;
            float* dx = A.dproj + t * d.dInProj + A.side[s].off + int64_t(rg) * N;
            float4 xv[NJ], dxv[NJ], dn[NJ], w[NJ];
            loadRow<NJ>(x, N, lane, xv);
            loadRow<NJ>(dx, N, lane, dxv);  // issued with the row's other loads
            float ss = 0.0f, gx = 0.0f;
#pragma unroll
            for (int j = 0; j < NJ; ++j) {
                const int n = 4 * lane + 128 * j;
                dn[j] = w[j] = float4{0, 0, 0, 0};
                if (n >= N) continue;
                w[j] = ld4(A.side[s].normW + n);
                for (int ww = 0; ww < kWarps; ++ww)
                    dn[j] = dn[j] + *reinterpret_cast<const float4*>(dnRow + (ww * 2 + s) * RGN +
                                                                     rg * N + n);
#pragma unroll
                for (int c = 0; c < 4; ++c) {
                    ss += at(xv[j], c) * at(xv[j], c);
                    gx += at(dn[j], c) * at(w[j], c) * at(xv[j], c);
                }
            }
            ss = det::warpSum(ss);
            gx = det::warpSum(gx);
            const float rs = 1.0f / sqrtf(ss / float(N) + d.eps);
            const float cc = rs * rs * rs / float(N) * gx;
            forLaneSlots<NJ>(N, lane, [&](int j, int n) {
#pragma unroll
                for (int c = 0; c < 4; ++c) {
                    dx[n + c] =
                        at(dxv[j], c) + (rs * at(dn[j], c) * at(w[j], c) - cc * at(xv[j], c));
                    at(dw[s][j], c) += at(dn[j], c) * at(xv[j], c) * rs;
                }
            });
        }
}

// One block: rows [t0, t1) of one document, a row an iteration, software-pipelined: iteration
// t issues row t's loads, then runs the norm backward of row t − 1 (whose heads' sums the last
// barrier completed) while they are in flight, then row t's heads; one barrier an iteration
// (the heads' sums double-buffered). kStaged (MIMO and N > 128 only): each warp copies row t + 1's
// gradients and angles into shared memory (cp.async, two buffers) before it works on row t, so a
// row's loads stay in flight across the barrier: measured slower for SISO (NOTES-cuda.md, F3: the
// limit is not that latency; its SISO instance and knob are removed). kMinBlocks:
// blocks an SM the registers must allow; N > 128 (two float4 slots a lane) runs at one: at two it
// spilled ~0.6 KB a thread.
template <int NJ, bool kMimo, int kMinBlocks, bool kStaged>
__global__ void __launch_bounds__(kThreads, kMinBlocks) rotaryNormBackward(const Args A) {
    extern __shared__ float4 shAligned[];
    float* sh = reinterpret_cast<float*>(shAligned);
    const det::KDims& d = A.d;
    const int N = d.N, R = d.R, H = d.H, nA = d.A, RG = d.R * d.G, hpg = d.H / d.G;
    const int HRN = H * R * N, RGN = RG * N;
    // The layout sharedBytes counts (every part an even number of floats: segAcc 8-aligned).
    float* gStage = sh;                                    // kStaged: [2 buffers][2][H][R][N]
    float* biasSum = gStage + (kStaged ? 4 * HRN : 0);     // [2][H][R][N]
    float* dnPart = biasSum + 2 * HRN;                     // [2 buffers][kWarps][2][R][G][N]
    float* stage = dnPart + 2 * kWarps * 2 * RGN;          // kMimo: [kWarps][4][N]
    float* tStage = stage + (kMimo ? kWarps * 4 * N : 0);  // kStaged: [2 buffers][H][A]
    double* segAcc = reinterpret_cast<double*>(tStage + (kStaged ? 2 * H * nA : 0));  // [H][A]
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int i = threadIdx.x; i < 2 * HRN; i += kThreads) biasSum[i] = 0.0f;
    if (A.segSums)
        for (int i = threadIdx.x; i < H * nA; i += kThreads) segAcc[i] = 0.0;
    __syncthreads();
    const int nItems = warp < H ? ((H - 1 - warp) / kWarps + 1) * R : 0;
    const int rgFirst = warp < H ? warp / hpg : 0;  // the (r, g) of item 0: r 0, the head's group
    constexpr int kPairs = kMimo ? 4 : 2;  // the lane's angles a slot: its elements or its pairs
    float4 dw[2][NJ];
#pragma unroll
    for (int s = 0; s < 2; ++s)
#pragma unroll
        for (int j = 0; j < NJ; ++j) dw[s][j] = float4{0, 0, 0, 0};
    const int64_t doc = blockIdx.x / A.blocksPerDoc, seg = blockIdx.x - doc * A.blocksPerDoc;
    const int64_t t0 = doc * A.T + seg * A.rowsPerBlock;
    const int64_t t1 =
        t0 + A.rowsPerBlock < (doc + 1) * A.T ? t0 + A.rowsPerBlock : (doc + 1) * A.T;
    float4 gv[kBatch][2][NJ];
    float th[kBatch][NJ][kPairs];
    // Row t's gradients and angles of items e0 .. e0 + kBatch − 1 (zeros past the last), from
    // global memory or (kStaged) from stage buffer sb.
    auto loadBatch = [&](int64_t t, int e0, int sb) {
#pragma unroll
        for (int b = 0; b < kBatch; ++b) {
            const int e = e0 + b, h = warp + kWarps * (e / R), r = e % R;
#pragma unroll
            for (int j = 0; j < NJ; ++j) {
                const int n = 4 * lane + 128 * j;
                const bool live = e < nItems && n < N;
                const int64_t off = ((t * R + r) * H + h) * int64_t(N) + n;
#pragma unroll
                for (int s = 0; s < 2; ++s)
                    gv[b][s][j] = !live     ? float4{0, 0, 0, 0}
                                  : kStaged ? *reinterpret_cast<const float4*>(
                                                  gStage + (sb * 2 + s) * HRN + (h * R + r) * N + n)
                                            : ld4(A.side[s].g + off);
#pragma unroll
                for (int p = 0; p < kPairs; ++p) {
                    const int a = kMimo ? (n + p < N / 2 ? n + p : n + p - N / 2) : n / 2 + p;
                    const bool rotated =
                        kMimo ? (n + p < nA || (n + p >= N / 2 && a < nA)) : a < nA;
                    th[b][j][p] = !(live && rotated) ? 0.0f
                                  : kStaged          ? tStage[(sb * H + h) * nA + a]
                                                     : __ldg(A.theta + (t * H + h) * nA + a);
                }
            }
        }
    };
    // kStaged: row t's gradients (the lane's own float4s) and its heads' angles (a lane an
    // angle) into stage buffer sb, as one cp.async group.
    auto stageRow = [&](int64_t t, int sb) {
        for (int e = 0; e < nItems; ++e) {
            const int h = warp + kWarps * (e / R), r = e % R;
            forLaneSlots<NJ>(N, lane, [&](int, int n) {
                const int64_t off = ((t * R + r) * H + h) * int64_t(N) + n;
#pragma unroll
                for (int s = 0; s < 2; ++s)
                    __pipeline_memcpy_async(gStage + (sb * 2 + s) * HRN + (h * R + r) * N + n,
                                            A.side[s].g + off, 16);
            });
            if (r == 0)
                for (int a = lane; a < nA; a += 32)
                    __pipeline_memcpy_async(tStage + (sb * H + h) * nA + a,
                                            A.theta + (t * H + h) * nA + a, 4);
        }
        __pipeline_commit();
    };
    if constexpr (kStaged) stageRow(t0, 0);
    int buf = 0;
    for (int64_t t = t0; t <= t1; ++t, buf ^= 1) {
        const bool live = t < t1;
        const float* row = A.proj + t * d.dInProj;
        float* myDn = dnPart + (buf * kWarps + warp) * 2 * RGN;
        float4 xpre[2][NJ];
        // The next row's copies go out first; their buffer's last reader (row t − 1) is behind
        // the last barrier.
        if constexpr (kStaged) {
            if (t + 1 < t1)
                stageRow(t + 1, buf ^ 1);
            else
                __pipeline_commit();  // an empty group: row t's is then always the one before
        }
        if (live) {
            if constexpr (!kStaged) loadBatch(t, 0, 0);
#pragma unroll
            for (int s = 0; s < 2; ++s)
                loadRow<NJ>(row + A.side[s].off + int64_t(rgFirst) * N, N, lane, xpre[s]);
            for (int i = lane; 4 * i < 2 * RGN; i += 32)
                reinterpret_cast<float4*>(myDn)[i] = float4{0, 0, 0, 0};
        }
        if (t > t0)
            normRowBackward<NJ>(A, t - 1, dnPart + (buf ^ 1) * kWarps * 2 * RGN, lane, warp, dw);
        if (!live) break;
        if constexpr (kStaged) {
            __pipeline_wait_prior(1);  // this lane's copies of row t have landed
            __syncwarp();              // and every lane's (θ is read across lanes)
            loadBatch(t, 0, buf);
        }
        __syncwarp();  // the zeroing lane of an entry is not its owner where N != 128
        float4 xw[2][NJ];
        int cachedRG = rgFirst;
#pragma unroll
        for (int s = 0; s < 2; ++s) normedRow<NJ>(d, xpre[s], A.side[s].normW, lane, xw[s]);
        double dthAcc[NJ][kPairs];
        for (int e0 = 0; e0 < nItems; e0 += kBatch) {
            if (e0 > 0) loadBatch(t, e0, buf);
#pragma unroll
            for (int b = 0; b < kBatch; ++b) {
                const int e = e0 + b;
                if (e >= nItems) break;
                const int h = warp + kWarps * (e / R), r = e % R, g = h / hpg, rg = r * d.G + g;
                if (rg != cachedRG) {
#pragma unroll
                    for (int s = 0; s < 2; ++s) {
                        float4 xv[NJ];
                        loadRow<NJ>(row + A.side[s].off + int64_t(rg) * N, N, lane, xv);
                        normedRow<NJ>(d, xv, A.side[s].normW, lane, xw[s]);
                    }
                    cachedRG = rg;
                }
                if (r == 0)
#pragma unroll
                    for (int j = 0; j < NJ; ++j)
#pragma unroll
                        for (int p = 0; p < kPairs; ++p) dthAcc[j][p] = 0.0;
                float4 qv[2][NJ];  // the un-rotated q (side 0) and k (1) of the lane's n
#pragma unroll
                for (int j = 0; j < NJ; ++j) {
                    const int n = 4 * lane + 128 * j;
#pragma unroll
                    for (int s = 0; s < 2; ++s)
                        qv[s][j] = n < N ? xw[s][j] + ld4(A.side[s].bias + (h * R + r) * N + n)
                                         : float4{0, 0, 0, 0};
                }
                if constexpr (!kMimo) {
#pragma unroll
                    for (int j = 0; j < NJ; ++j) {
                        const int a0 = (4 * lane + 128 * j) / 2;
#pragma unroll
                        for (int p = 0; p < 2; ++p) {
                            if (a0 + p >= nA) continue;
                            float sn, cs;
                            sincosf(th[b][j][p], &sn, &cs);
#pragma unroll
                            for (int s = 0; s < 2; ++s)
                                dthAcc[j][p] +=
                                    unrotate(at(gv[b][s][j], 2 * p), at(gv[b][s][j], 2 * p + 1),
                                             at(qv[s][j], 2 * p), at(qv[s][j], 2 * p + 1), cs, sn);
                        }
                    }
                } else {
                    float* st = stage + warp * 4 * N;  // g of C, g of B, q, k
                    forLaneSlots<NJ>(N, lane, [&](int j, int n) {
#pragma unroll
                        for (int s = 0; s < 2; ++s) {
                            *reinterpret_cast<float4*>(st + s * N + n) = gv[b][s][j];
                            *reinterpret_cast<float4*>(st + (2 + s) * N + n) = qv[s][j];
                        }
                    });
                    __syncwarp();
#pragma unroll
                    for (int j = 0; j < NJ; ++j)
#pragma unroll
                        for (int c = 0; c < 4; ++c) {
                            const int n = 4 * lane + 128 * j + c;
                            const bool first = n < nA, second = n >= N / 2 && n - N / 2 < nA;
                            if (n >= N || !(first || second)) continue;
                            float sn, cs;
                            sincosf(th[b][j][c], &sn, &cs);
                            const int partner = first ? n + N / 2 : n - N / 2;
#pragma unroll
                            for (int s = 0; s < 2; ++s) {
                                float gu = first ? at(gv[b][s][j], c) : st[s * N + partner];
                                float gw = first ? st[s * N + partner] : at(gv[b][s][j], c);
                                const float u = first ? at(qv[s][j], c) : st[(2 + s) * N + partner];
                                const float w = first ? st[(2 + s) * N + partner] : at(qv[s][j], c);
                                const double x = unrotate(gu, gw, u, w, cs, sn);
                                if (first) dthAcc[j][c] += x;
                                at(gv[b][s][j], c) = first ? gu : gw;
                            }
                        }
                    __syncwarp();
                }
                forLaneSlots<NJ>(N, lane, [&](int j, int n) {
#pragma unroll
                    for (int s = 0; s < 2; ++s) {
                        addTo(myDn + s * RGN + rg * N + n, gv[b][s][j]);
                        addTo(biasSum + s * HRN + (h * R + r) * N + n, gv[b][s][j]);
                    }
                });
                if (r == R - 1)
#pragma unroll
                    for (int j = 0; j < NJ; ++j)
#pragma unroll
                        for (int p = 0; p < kPairs; ++p) {
                            const int n = 4 * lane + 128 * j;
                            const int a = kMimo ? n + p : n / 2 + p;
                            if (n < N && a < nA && (!kMimo || n + p < N / 2)) {
                                const float v = float(dthAcc[j][p]);
                                A.dth[(t * H + h) * nA + a] = v;
                                if (A.segSums) segAcc[h * nA + a] += double(v);  // lane's own
                            }
                        }
            }
        }
        __syncthreads();
    }
    // The block's partial sums: the bias sums as they are, the warps' norm-weight sums added
    // in warp order through shared memory (dnPart's first buffer, free now).
    __syncthreads();
    const int64_t cols = 2 * int64_t(HRN) + 2 * N;
    float* part = A.partials + blockIdx.x * cols;
    for (int i = threadIdx.x; i < 2 * HRN; i += kThreads) part[i] = biasSum[i];
    if (A.segSums)
        for (int i = threadIdx.x; i < H * nA; i += kThreads)
            A.segSums[blockIdx.x * int64_t(H) * nA + i] = segAcc[i];
#pragma unroll
    for (int s = 0; s < 2; ++s)
#pragma unroll
        for (int j = 0; j < NJ; ++j) {
            const int n = 4 * lane + 128 * j;
            if (n < N) *reinterpret_cast<float4*>(dnPart + (warp * 2 + s) * N + n) = dw[s][j];
        }
    __syncthreads();
    for (int i = threadIdx.x; i < 2 * N; i += kThreads) {
        float sum = 0.0f;
        for (int ww = 0; ww < kWarps; ++ww) sum += dnPart[ww * 2 * N + i];
        part[2 * HRN + i] = sum;
    }
}

// dst[k][c − start_k] += Σ_b partials[b·cols + c], in a fixed order: a block (32, kGroups)
// takes 32 adjacent columns; thread y sums the blocks b ≡ y (mod kGroups) in order (loads of
// 32 columns coalesced, kGroups independent chains), then y = 0 adds the groups in order.
struct Segments {
    float* dst[4];
    int64_t end[4];  // cumulative
    int count;
};
constexpr int kGroups = 16;

__global__ void sumPartials(const float* __restrict__ partials, int blocks, int64_t cols,
                            Segments seg) {
    __shared__ double part[kGroups][32];
    const int64_t c = blockIdx.x * int64_t(32) + threadIdx.x;
    double sum = 0.0;
    if (c < cols)
#pragma unroll 4
        for (int b = threadIdx.y; b < blocks; b += kGroups)
            sum += double(partials[int64_t(b) * cols + c]);
    part[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y != 0 || c >= cols) return;
    for (int y = 1; y < kGroups; ++y) sum += part[y][threadIdx.x];
    int k = 0;
    while (k + 1 < seg.count && c >= seg.end[k]) ++k;
    const int64_t start = k == 0 ? 0 : seg.end[k - 1];
    seg.dst[k][c - start] += float(sum);
}

// The kernel's shared layout: the floats, then H·A doubles where segSums.
size_t sharedBytes(const ops::Mamba3Dims& d, bool segSums, bool staged) {
    const int64_t HRN = int64_t(d.H) * d.R * d.N, RGN = int64_t(d.R) * d.G * d.N;
    const int64_t floats = (staged ? 4 * HRN + 2 * int64_t(d.H) * d.A : 0) + 2 * HRN +
                           2 * kWarps * 2 * RGN + (d.mimo ? kWarps * 4 * d.N : 0);
    return size_t(floats) * 4 + (segSums ? size_t(d.H) * d.A * 8 : 0);
}

bool aligned16(const void* p) {
    return (reinterpret_cast<uintptr_t>(p) & 15) == 0;
}

// One resident wave of blocks, split evenly over the documents, each block a stretch of one
// document's adjacent rows (fixed for a device and shape: so is the partials' sum order).
template <int NJ, bool kMimo, int kMinBlocks, bool kStaged>
cudaError_t launchFused(Args& a, int64_t batch, size_t smem, cudaStream_t s) {
    auto* kernel = rotaryNormBackward<NJ, kMimo, kMinBlocks, kStaged>;
    if (smem > 48 * 1024)
        if (cudaError_t e = cudaFuncSetAttribute(
                kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)))
            return e;
    int device = 0, sms = 0, perSm = 0;
    if (cudaError_t e = cudaGetDevice(&device)) return e;
    if (cudaError_t e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device))
        return e;
    if (cudaError_t e =
            cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, kernel, kThreads, smem))
        return e;
    const int64_t want = std::min<int64_t>(std::max(1, perSm) * int64_t(sms), kMaxBlocks);
    const int64_t perDoc = std::max<int64_t>(1, want / batch);
    a.rowsPerBlock = (a.T + perDoc - 1) / perDoc;
    a.blocksPerDoc = (a.T + a.rowsPerBlock - 1) / a.rowsPerBlock;
    kernel<<<unsigned(batch * a.blocksPerDoc), kThreads, smem, s>>>(a);
    return cudaGetLastError();
}

}  // namespace

int64_t mamba3_rotary_preprocess_backward_scratch_floats(const ops::Mamba3Dims& d) {
    const int64_t cols = 2 * int64_t(d.H) * d.R * d.N + 2 * int64_t(d.N);
    // B/C partials, dtBias partials, then the segment sums (doubles, 8-byte aligned).
    const int64_t floats = kMaxBlocks * cols + int64_t(kPreprocessScalarBlocks) * d.H;
    return (floats + 1) / 2 * 2 + 2 * kMaxBlocks * int64_t(d.H) * d.A;
}

bool mamba3_rotary_preprocess_backward_fits(const ops::Mamba3Dims& d) {
    int device = 0, optin = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) !=
            cudaSuccess)
        return false;
    return d.N % 4 == 0 && d.N > 0 && d.N <= 256 && d.R >= 1 && d.R <= kMaxR &&
           (d.mimo || d.R == 1) && d.G > 0 && d.H % d.G == 0 && d.H <= 1024 && d.A >= 0 &&
           2 * d.A <= d.N && sharedBytes(d, true, true) <= size_t(optin);
}

cudaError_t mamba3_rotary_preprocess_backward(const ops::Mamba3Dims& dims,
                                              const ops::Mamba3PreprocessParams& p,
                                              const Mamba3PreprocessGrads& g, const float* proj,
                                              const float* theta, int64_t batch, int64_t T,
                                              const float* dq, const float* dk, const float* ddt,
                                              const float* dadt, const float* dtrap, float* dproj,
                                              float* dthScratch, float* ddtheta, float* scratch,
                                              cudaStream_t s, bool angleWalk) {
    const int64_t rows = batch * T;
    if (rows <= 0) return cudaSuccess;
    if (!mamba3_rotary_preprocess_backward_fits(dims) || !aligned16(dq) || !aligned16(dk) ||
        !aligned16(p.bNorm) || !aligned16(p.cNorm) || !aligned16(p.bBias) || !aligned16(p.cBias) ||
        !aligned16(scratch) || batch > kMaxBlocks)
        return cudaErrorNotSupported;
    const det::KDims d = det::kdims(dims);
    const int64_t HRN = int64_t(d.H) * d.R * d.N, cols = 2 * HRN + 2 * int64_t(d.N);
    const int64_t HA = int64_t(d.H) * d.A;
    float* dtParts = scratch + kMaxBlocks * cols;
    double* segSums = reinterpret_cast<double*>(
        scratch + (kMaxBlocks * cols + int64_t(kPreprocessScalarBlocks) * d.H + 1) / 2 * 2);
    const bool walk = angleWalk && HA > 0 && mamba3_angle_walk_fits(dims);
    Args a{d,
           proj,
           theta,
           {{dq, p.cNorm, p.cBias, d.offC}, {dk, p.bNorm, p.bBias, d.offB}},
           T,
           0,
           0,
           dproj,
           dthScratch,
           scratch,
           walk ? segSums : nullptr};
    // The SISO kernel (N <= 128) without the next row staged by cp.async: staged it measured
    // slower at 4 x 4096 (558 against 467 us a layer; that SISO instance is removed). MIMO and
    // N > 128 take the staged instances, the configuration the last GPU run tested (their speed
    // is not measured).
    const bool siso = !dims.mimo && dims.N <= 128;
    const size_t smem = sharedBytes(dims, walk, !siso);
    cudaError_t e = dims.N > 128 ? (dims.mimo ? launchFused<2, true, 1, true>(a, batch, smem, s)
                                              : launchFused<2, false, 1, true>(a, batch, smem, s))
                    : dims.mimo  ? launchFused<1, true, 2, true>(a, batch, smem, s)
                                 : launchFused<1, false, 2, false>(a, batch, smem, s);
    if (e) return e;
    const int blocks = int(batch * a.blocksPerDoc);
    const Segments bc{{g.cBias, g.bBias, g.cNorm, g.bNorm}, {HRN, 2 * HRN, 2 * HRN + d.N, cols}, 4};
    sumPartials<<<det::gridFor(cols, 32), dim3(32, kGroups), 0, s>>>(scratch, blocks, cols, bc);
    int sb = 0;
    if (walk) {
        // The reverse sum, the scalars and the angle columns in one walk over dth.
        sb = blocks;
        if (cudaError_t e2 = mamba3_angle_walk_backward(
                dims, p.dtBias, proj, ddt, dadt, dtrap, dthScratch, segSums, batch, T,
                a.blocksPerDoc, a.rowsPerBlock, dproj, dtParts, s))
            return e2;
    } else {
        if (HA > 0)
            if (cudaError_t e2 =
                    rotary_theta_reverse_sum(dthScratch, batch, T, HA, ddtheta, true, s))
                return e2;
        // The scalars read no ddtheta where A is 0 (nothing rotated).
        if (cudaError_t e3 =
                mamba3_preprocess_scalars_backward(dims, p.dtBias, g.dtBias, proj, rows, ddt, dadt,
                                                   dtrap, ddtheta, dproj, dtParts, &sb, s))
            return e3;
    }
    const Segments dt{{g.dtBias, nullptr, nullptr, nullptr}, {d.H, 0, 0, 0}, 1};
    sumPartials<<<det::gridFor(d.H, 32), dim3(32, kGroups), 0, s>>>(dtParts, sb, d.H, dt);
    return cudaGetLastError();
}

}  // namespace lectern::train::cuda
