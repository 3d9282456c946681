// The bf16 SISO prefill's preprocess (dt, A·dt, trap, the running rotary angles, q/k in
// bf16) in one launch; neither the angle increments nor the running angles go through
// device memory (NOTES-gpu.md, prefill fifth and sixth passes and session 6's q/k op
// look-back). A document is cut into segments of >= 64 tokens and the heads into chunks
// of hc (hc·A <= 256 (head, angle) items); a block per (segment, head chunk), the chunk
// fastest so that a segment's chunks share its rows in L2:
//   1. totals: tanh(angles)·π and dt staged in shared memory (dt, A·dt, trap written out;
//      a whole 64-token segment's at once where they fit, and then kept for step 3), and
//      each (head, angle) thread sums its increments over the segment (double);
//   2. bases: a decoupled look-back over the document's segments in fixed-point turns
//      (exact integer sums: the same base whichever predecessors a block adds, so the
//      result does not depend on the blocks' timing); the last segment writes the final
//      angle into the state. Blocks take their order from a counter, so a block waits only
//      for blocks that already run;
//   3. q/k: per tile of 16 tokens, the C/B rows copied to shared memory by cp.async; their
//      RMSNorm scales (a warp a row, once per token rather than once per head); each
//      (head, angle) thread runs its angle from its base and leaves cos/sin (by the SFU) in
//      shared memory; then every thread writes 8-element pieces of q rows, then of k rows
//      (normalised, weighted, biased, rotated) by 16-byte stores with the piece's weights in
//      registers: a half warp writes a 128-element row. The staged rows and cos/sin lie in
//      a split order (rowPos, csPos) that makes the pieces' 16-byte shared reads
//      conflict-free.
// Steps 1 and 2 were launches of their own before (52 + 8 µs a layer of the benchmark).
// The one-thread-a-(head, angle) walk before it stored 4 bytes a lane with a global round
// trip a token (latency-bound: 1.04 ms a layer at 16k tokens).
// One segment (T <= 64): the CPU's fp32 angle sequence from the state, no look-back.
#include <cuda_bf16.h>
#include <cuda_pipeline.h>

#include "common.cuh"
#include "cuda/cuda_ops.h"
#include "mamba3_scalars.cuh"

namespace lectern::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kItems = kThreads;   // (head, angle) items a block at most: one a thread
constexpr int kMaxHeads = 8;       // heads a chunk at most
constexpr int kTile = 16;          // tokens staged at a time
constexpr int kPiece = 8;          // q/k elements a thread writes at once (16 bytes of bf16)
constexpr int64_t kSegMin = 64;    // tokens a segment at least
constexpr int64_t kSegMax = 1024;  // segments a document at most
constexpr size_t kDefaultSmem = 48 * 1024;  // more needs the kernel's opt-in
constexpr double kTwoPiD = 2.0 * 3.14159265358979323846;

struct Plan {
    int64_t T, len;   // tokens a document, a segment
    int nSeg;         // segments a document
    int hc, nChunks;  // heads a chunk, chunks
    int ng;           // B/C groups a chunk spans at most
    int st;           // tokens of scalars staged at a time (a multiple of kTile)
};

Plan planFor(const ops::Mamba3Dims& d, int64_t T) {
    Plan pl{};
    pl.T = T;
    pl.len = std::max(kSegMin, (T + kSegMax - 1) / kSegMax);
    pl.nSeg = int((T + pl.len - 1) / pl.len);
    pl.hc = std::clamp(kItems / d.A, 1, std::min(d.H, kMaxHeads));
    pl.nChunks = (d.H + pl.hc - 1) / pl.hc;
    const int hpg = d.H / d.G;
    pl.ng = 0;
    for (int h0 = 0; h0 < d.H; h0 += pl.hc)
        pl.ng = std::max(pl.ng, (std::min(d.H, h0 + pl.hc) - 1) / hpg - h0 / hpg + 1);
    // A whole 64-token segment's scalars stay staged from the totals to the q/k pass where
    // they fit in 12 KB (the benchmark's: 10 KB); else a tile's, restaged in the q/k pass.
    pl.st = size_t(kSegMin) * (d.A + pl.hc) * sizeof(float) <= 12 * 1024 ? int(kSegMin) : kTile;
    return pl;
}

// Shared bytes: the staged scalars, cos/sin, the scales and the tile's C/B rows.
size_t scalarBytes(const ops::Mamba3Dims& d, const Plan& pl) {
    return size_t(pl.st) * (d.A + pl.hc) * sizeof(float);
}
size_t qkBytes(const ops::Mamba3Dims& d, const Plan& pl) {
    return size_t(kTile) * (pl.hc * d.A + pl.ng) * sizeof(float2) +
           size_t(kTile) * pl.ng * 2 * d.N * sizeof(float) + scalarBytes(d, pl);
}

// Into [0, 2π) up to rounding (by the reciprocal: no double division per token).
__device__ __forceinline__ double wrapD(double u) {
    return u - kTwoPiD * floor(u * (1.0 / kTwoPiD));
}

// This block's document, segment (tokens [t0, t1)) and heads [h0, h0 + hc).
struct Blk {
    int64_t b, t0, t1;
    int h0, hc;
};

// vid: the block's place in (document, segment, chunk) order, the chunk fastest.
__device__ __forceinline__ Blk blockOf(const Plan& pl, int H, int64_t vid) {
    Blk k;
    const int64_t row = vid / pl.nChunks;
    k.b = row / pl.nSeg;
    k.t0 = (row % pl.nSeg) * pl.len;
    k.t1 = min(pl.T, k.t0 + pl.len);
    k.h0 = int(vid % pl.nChunks) * pl.hc;
    k.hc = min(pl.hc, H - k.h0);
    return k;
}

__device__ __forceinline__ const float* rowAt(const detail::KDims& d, const float* proj,
                                              const Plan& pl, const Blk& k, int64_t t) {
    return proj + (k.b * pl.T + t) * d.dInProj;
}

// The tile [tt, tt + ts)'s tanh(angles[a])·π (tp [ts][A]) and its heads' dt (dts [ts][hc]):
// the increment of (t, h, a) is tp·dt, the CPU's tanh(x)·π·dt to the bit. With dt set, also
// the heads' dt, A·dt and trap to device memory (launch 1).
__device__ __forceinline__ void stageScalars(const detail::KDims& d,
                                             const ops::Mamba3PreprocessParams& p,
                                             const float* proj, const Plan& pl, const Blk& k,
                                             int64_t tt, int ts, float* tp, float* dts, float* dt,
                                             float* adt, float* trap) {
    for (int i = threadIdx.x; i < ts * d.A; i += blockDim.x)
        tp[i] = tanhf(rowAt(d, proj, pl, k, tt + i / d.A)[d.offAngles + i % d.A]) * detail::kPi;
    for (int i = threadIdx.x; i < ts * k.hc; i += blockDim.x) {
        const int t = i / k.hc, h = k.h0 + i % k.hc;
        const float* row = rowAt(d, proj, pl, k, tt + t);
        const float dth = detail::softplusF(row[d.offDt + h] + p.dtBias[h]);
        dts[i] = dth;
        if (dt) {
            const int64_t at = (k.b * pl.T + tt + t) * d.H + h;
            const float aa = fminf(-detail::heavyTailF(row[d.offA + h]), -d.aFloor);
            dt[at] = dth;
            adt[at] = aa * dth;
            trap[at] = 1.0f / (1.0f + expf(-row[d.offTrap + h]));
        }
    }
}

// The (head, angle) item of this thread: items = hc·A, one a thread.
struct Item {
    bool live;
    int hl, a;
    int64_t col;  // h·A + a
};

__device__ __forceinline__ Item itemOf(const detail::KDims& d, const Blk& k) {
    Item it;
    it.live = int(threadIdx.x) < k.hc * d.A;
    it.hl = it.live ? int(threadIdx.x) / d.A : 0;
    it.a = it.live ? int(threadIdx.x) % d.A : 0;
    it.col = int64_t(k.h0 + it.hl) * d.A + it.a;
    return it;
}

// Angles as fixed-point turns (2π = 2^64): integer sums are exact and associative, so
// the look-back below gives every segment the same base whichever predecessors it adds,
// and the wrap is free.
__device__ __forceinline__ uint64_t toTurns(double rad) {
    const double u = rad * (1.0 / kTwoPiD);
    double f = u - floor(u);
    if (!(f < 1.0)) f = 0.0;
    return __double2ull_rz(f * 0x1p64);
}
__device__ __forceinline__ double fromTurns(uint64_t x) {
    return __ull2double_rn(x) * (kTwoPiD * 0x1p-64);
}

// The segments' decoupled look-back (scratch of the multi-segment case): a block per
// (segment, chunk) takes its order from the counter (so its predecessors run or ran),
// publishes its segment total (flag 1), adds its predecessors' totals until one that
// published its inclusive prefix (flag 2), then publishes its own.
struct SegScan {
    unsigned* counter;
    int* flags;     // [batch·nSeg·nChunks]: 0 none, 1 total, 2 inclusive
    uint64_t* agg;  // [batch·nSeg][HA] turns
    uint64_t* incl;
};

__device__ __forceinline__ void publish(const SegScan& sc, uint64_t* arr, int64_t at, bool live,
                                        uint64_t v, int64_t vid, int flag) {
    if (live) arr[at] = v;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) atomicExch(sc.flags + vid, flag);
}

// The sum of the segment's predecessors in its document (turns), segment s of the block
// vid. Warp 0 reads 32 predecessors' flags at a time and waits until those up to the
// nearest inclusive one are set; then every item thread adds their values.
__device__ uint64_t lookBack(const SegScan& sc, int64_t vid, int s, int nChunks, int64_t HA,
                             const Item& it, int64_t row) {
    __shared__ int shCount, shDone;
    uint64_t excl = 0;
    for (int pos = s - 1;; pos -= 32) {
        if (threadIdx.x < 32) {
            const int j = pos - int(threadIdx.x);
            for (;;) {
                const int f = j >= 0 ? *reinterpret_cast<volatile int*>(sc.flags + vid -
                                                                        int64_t(s - j) * nChunks)
                                     : 2;
                const unsigned inc = __ballot_sync(~0u, f == 2);
                const int first = inc ? __ffs(int(inc)) - 1 : 31;
                const unsigned need = first == 31 ? ~0u : (2u << first) - 1u;
                if (!(__ballot_sync(~0u, f == 0) & need)) {
                    if (threadIdx.x == 0) shCount = first + 1, shDone = inc != 0;
                    break;
                }
                __nanosleep(100);
            }
            __threadfence();  // the flags seen before the values
        }
        __syncthreads();
        const int count = shCount;
        const bool done = shDone;
        if (it.live)
            for (int i = 0; i < count && pos - i >= 0; ++i) {
                const int64_t at = (row - (s - (pos - i))) * HA + it.col;
                excl += done && i == count - 1 ? __ldcg(sc.incl + at) : __ldcg(sc.agg + at);
            }
        __syncthreads();  // shCount, shDone reused
        if (done) return excl;
    }
}

// Where element n of a staged row lies: the first halves of the 8-element pieces, then the
// second halves, so that the write phase's 16-byte reads (lane j: 4j, then N/2 + 4j) are
// contiguous over the lanes (one shared-memory wavefront a quarter warp; the plain row
// took two).
__device__ __forceinline__ int rowPos(int n, int N) {
    return (n & 4 ? N / 2 : 0) + (n >> 3) * 4 + (n & 3);
}

// Where pair a's cos/sin lie in a head's row of them: for A % 4 == 0 (quad) the same
// split, pairs 4j, 4j + 1 at 2j and 4j + 2, 4j + 3 at A/2 + 2j (two 16-byte reads a piece,
// contiguous over the lanes, for four 8-byte reads with 4-way bank conflicts); else plain.
__device__ __forceinline__ int csPos(int a, int A, bool quad) {
    return quad ? (a & 2 ? A / 2 : 0) + (a >> 2) * 2 + (a & 1) : a;
}

// The tile's C and B rows of the chunk's groups into shared memory (rows [ts][ng][C, B][N],
// each in rowPos order) by cp.async, 16 bytes a copy where the rows allow it (Vec), else 4;
// the caller waits.
template <bool Vec>
__device__ __forceinline__ void stageRows(const detail::KDims& d, const float* proj, const Plan& pl,
                                          const Blk& k, int64_t tt, int ts, int gLo, int ng,
                                          float* rows) {
    constexpr int kW = Vec ? 4 : 1;  // floats a copy
    const int perRow = d.N / kW;
    for (int i = threadIdx.x; i < ts * ng * 2 * perRow; i += blockDim.x) {
        const int c = i % perRow, rest = i / perRow, tg = rest / 2;
        const float* src = rowAt(d, proj, pl, k, tt + tg / ng) + (rest % 2 ? d.offB : d.offC) +
                           int64_t(gLo + tg % ng) * d.N + c * kW;
        __pipeline_memcpy_async(rows + int64_t(rest) * d.N + rowPos(c * kW, d.N), src,
                                kW * sizeof(float));
    }
    __pipeline_commit();
}

// The RMSNorm scales of the staged rows (scl [ts][ng]: C's, B's): a warp a (token, group),
// the sums as the three-op path's kernel makes them.
__device__ __forceinline__ void stageScales(const detail::KDims& d, const float* rows, int ts,
                                            int ng, float2* scl) {
    const int lane = int(threadIdx.x) & 31;
    for (int i = int(threadIdx.x) >> 5; i < ts * ng; i += int(blockDim.x) >> 5) {
        const float* c = rows + int64_t(i) * 2 * d.N;
        const float* bb = c + d.N;
        float sc = 0.0f, sb = 0.0f;
        for (int n = lane; n < d.N; n += 32) {
            const int at = rowPos(n, d.N);
            sc += c[at] * c[at];
            sb += bb[at] * bb[at];
        }
        sc = detail::warpSum(sc);
        sb = detail::warpSum(sb);
        if (lane == 0) scl[i] = {rsqrtf(sc / float(d.N) + d.eps), rsqrtf(sb / float(d.N) + d.eps)};
    }
}

// Eight floats from src: two 16-byte loads where the vectors allow it (Vec).
template <bool Vec>
__device__ __forceinline__ void load8(const float* src, float (&v)[kPiece]) {
    if constexpr (Vec) {
        const float4 x = *reinterpret_cast<const float4*>(src);
        const float4 y = *reinterpret_cast<const float4*>(src + 4);
        v[0] = x.x, v[1] = x.y, v[2] = x.z, v[3] = x.w;
        v[4] = y.x, v[5] = y.y, v[6] = y.z, v[7] = y.w;
    } else {
#pragma unroll
        for (int i = 0; i < kPiece; ++i) v[i] = src[i];
    }
}

__device__ __forceinline__ void store8Bf16(__nv_bfloat16* dst, const float (&v)[kPiece]) {
    struct alignas(16) Pack {
        __nv_bfloat162 h[kPiece / 2];
    } pk;
#pragma unroll
    for (int i = 0; i < kPiece / 2; ++i) pk.h[i] = __floats2bfloat162_rn(v[2 * i], v[2 * i + 1]);
    *reinterpret_cast<Pack*>(dst) = pk;
}

// The rows' pieces of one of q (C rows, dst qb) or k (B rows, dst kb, and the document's
// last row in fp32 to kLast) for a tile: q first, then k, so that only one set of weights
// is held in registers (both at once spilled at 3 blocks a multiprocessor).
struct PieceJob {
    int srcOff;          // the piece's first half in a staged (token, group) row pair
    const float* w;      // norm weights + n0
    const float* bias;   // the head's biases + n0
    int sIdx;            // 0: C's scale, 1: B's
    __nv_bfloat16* dst;  // qb or kb
    float* last;         // kLast, or null
};

// The cos/sin of the piece's pairs m0 .. m0 + 3 (csRow: the head's row of them), and how
// many of them are rotated (m < A).
__device__ __forceinline__ int pieceAngles(float2 (&e)[kPiece / 2], const float2* csRow, int m0,
                                           int A, bool quad) {
    const int nRot = min(max(A - m0, 0), kPiece / 2);
    if (quad) {
        if (nRot > 0) {
            const float4 x = *reinterpret_cast<const float4*>(csRow + m0 / 2);
            const float4 y = *reinterpret_cast<const float4*>(csRow + A / 2 + m0 / 2);
            e[0] = {x.x, x.y}, e[1] = {x.z, x.w}, e[2] = {y.x, y.y}, e[3] = {y.z, y.w};
        }
    } else {
#pragma unroll
        for (int i = 0; i < kPiece / 2; ++i)
            if (i < nRot) e[i] = csRow[m0 + i];
    }
    return nRot;
}

// Normalised, weighted, biased (src * s * w + bias, the CPU's order) and the first nRot
// pairs rotated by their cos/sin.
__device__ __forceinline__ void makePiece(float (&v)[kPiece], float s, const float (&w)[kPiece],
                                          const float (&bias)[kPiece],
                                          const float2 (&e)[kPiece / 2], int nRot) {
#pragma unroll
    for (int i = 0; i < kPiece; ++i) v[i] = v[i] * s * w[i] + bias[i];
#pragma unroll
    for (int i = 0; i < kPiece / 2; ++i) {
        if (i < nRot) {
            const float v0 = v[2 * i], v1 = v[2 * i + 1];
            v[2 * i] = v0 * e[i].x - v1 * e[i].y;
            v[2 * i + 1] = v0 * e[i].y + v1 * e[i].x;
        }
    }
}

// 3 blocks a multiprocessor (<= 85 registers; unbounded, ptxas took 104 and 2 blocks).
template <bool Vec>
__global__ void __launch_bounds__(kThreads, 3)
    qkKernel(detail::KDims d, ops::Mamba3PreprocessParams p, const float* __restrict__ proj,
             Plan pl, SegScan sc, float* __restrict__ angleState, __nv_bfloat16* __restrict__ qb,
             __nv_bfloat16* __restrict__ kb, float* __restrict__ kLast, float* __restrict__ dt,
             float* __restrict__ adt, float* __restrict__ trap) {
    extern __shared__ float4 smem[];
    __shared__ unsigned shVid;
    // One segment: no look-back, the launch order will do; several: the counter's order.
    const bool one = pl.nSeg == 1;
    if (!one && threadIdx.x == 0) shVid = atomicAdd(sc.counter, 1u);
    __syncthreads();
    const int64_t vid = one ? int64_t(blockIdx.x) : int64_t(shVid);
    const Blk k = blockOf(pl, d.H, vid);
    const Item it = itemOf(d, k);
    const int hpg = d.H / d.G, gLo = k.h0 / hpg, ng = (k.h0 + k.hc - 1) / hpg - gLo + 1;
    const int items = k.hc * d.A;
    const bool quad = d.A % 4 == 0;
    float2* cs = reinterpret_cast<float2*>(smem);              // [kTile][items]: cos, sin
    float2* scl = cs + kTile * items;                          // [kTile][ng]: C's, B's scale
    float* rows = reinterpret_cast<float*>(scl + kTile * ng);  // [kTile][ng][C, B][N]
    float* tp = rows + kTile * ng * 2 * d.N;                   // [st][A]
    float* dts = tp + pl.st * d.A;                             // [st][hc]

    // Pass 1: the scalars staged (dt, A·dt, trap written), the segment's total summed.
    double run = 0.0;
    int64_t staged = k.t0;
    for (int64_t tt = k.t0; tt < k.t1; tt += pl.st) {
        const int ts = int(min(int64_t(pl.st), k.t1 - tt));
        staged = tt;
        stageScalars(d, p, proj, pl, k, tt, ts, tp, dts, dt, adt, trap);
        __syncthreads();
        if (it.live && !one)
            for (int t = 0; t < ts; ++t) run += double(tp[t * d.A + it.a] * dts[t * k.hc + it.hl]);
        __syncthreads();
    }

    // The angle: one segment, the CPU's fp32 sequence from the state; several, the base
    // (the state plus the earlier segments' totals, by the look-back) plus the running sum
    // of this segment's increments (double).
    const int64_t HA = int64_t(d.H) * d.A;
    const float twoPi = 2.0f * detail::kPi;
    float theta = one && it.live ? angleState[k.b * HA + it.col] : 0.0f;
    double base = 0.0;
    if (!one) {
        const int64_t row = vid / pl.nChunks;
        const int s = int(row % pl.nSeg);
        const int64_t at = row * HA + it.col;
        const uint64_t own = toTurns(run);
        uint64_t excl;
        if (s == 0) {
            excl = it.live ? toTurns(double(angleState[k.b * HA + it.col])) : 0;
        } else {
            publish(sc, sc.agg, at, it.live, own, vid, 1);
            excl = lookBack(sc, vid, s, pl.nChunks, HA, it, row);
        }
        publish(sc, sc.incl, at, it.live, excl + own, vid, 2);
        base = fromTurns(excl);
        if (s == pl.nSeg - 1 && it.live)
            angleState[k.b * HA + it.col] = float(wrapD(fromTurns(excl + own)));
    }
    run = 0.0;

    // Pass 2, the write phase: piece u = (head hl, piece j) of a token; U pieces a token,
    // tokPar tokens at a time when they fit in the block (else the pieces loop, a token at
    // a time).
    const int nPieces = d.N / kPiece, U = k.hc * nPieces;
    const int tokPar = max(1, kThreads / U);
    const int tsub = U <= kThreads ? int(threadIdx.x) / U : 0;
    const int uFirst = U <= kThreads ? int(threadIdx.x) % U : int(threadIdx.x);
    const int64_t rowQK = int64_t(d.H) * d.N;

    for (int64_t tt = k.t0; tt < k.t1; tt += kTile) {
        const int ts = int(min(int64_t(kTile), k.t1 - tt));
        stageRows<Vec>(d, proj, pl, k, tt, ts, gLo, ng, rows);
        // The scalars of this tile: still staged from pass 1 unless the segment is longer.
        const int64_t want = k.t0 + (tt - k.t0) / pl.st * pl.st;
        if (want != staged) {
            staged = want;
            stageScalars(d, p, proj, pl, k, want, int(min(int64_t(pl.st), k.t1 - want)), tp, dts,
                         nullptr, nullptr, nullptr);
        }
        const float* tpT = tp + (tt - staged) * d.A;
        const float* dtsT = dts + (tt - staged) * k.hc;
        __pipeline_wait_prior(0);
        __syncthreads();
        stageScales(d, rows, ts, ng, scl);
        if (it.live) {
#pragma unroll 2
            for (int t = 0; t < ts; ++t) {
                const float inc = tpT[t * d.A + it.a] * dtsT[t * k.hc + it.hl];
                if (one) {
                    const float u = theta + inc;
                    theta = u - twoPi * floorf(u / twoPi);
                } else {
                    run += double(inc);
                    theta = float(wrapD(base + run));
                }
                // By the SFU on [-π, π) (sin, cos of theta - π are minus theta's): 4e-7 at
                // most off sincosf, far under the angle's own rounding past one segment.
                float sn, cn;
                __sincosf(theta - detail::kPi, &sn, &cn);
                cs[t * items + it.hl * d.A + csPos(it.a, d.A, quad)] = {-cn, -sn};
            }
        }
        __syncthreads();
        for (int u = uFirst; tsub < tokPar && u < U; u += kThreads) {
            const int hl = u / nPieces, n0 = (u % nPieces) * kPiece, h = k.h0 + hl;
            const int gl = h / hpg - gLo;
            const int64_t hOff = int64_t(h) * d.N + n0;
#pragma unroll 1
            for (int j = 0; j < 2; ++j) {
                const PieceJob job =
                    j == 0 ? PieceJob{n0 / 2, p.cNorm + n0, p.cBias + hOff, 0, qb, nullptr}
                           : PieceJob{d.N + n0 / 2, p.bNorm + n0, p.bBias + hOff, 1, kb, kLast};
                float w[kPiece], bias[kPiece];
                load8<Vec>(job.w, w);
                load8<Vec>(job.bias, bias);
                for (int t = tsub; t < ts; t += tokPar) {
                    const int64_t tok = tt + t, r = k.b * pl.T + tok;
                    const float* src = rows + (t * ng + gl) * 2 * d.N + job.srcOff;
                    const float4 lo = *reinterpret_cast<const float4*>(src);
                    const float4 hi = *reinterpret_cast<const float4*>(src + d.N / 2);
                    float v[kPiece] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
                    const float2 s2 = scl[t * ng + gl];
                    float2 e[kPiece / 2];
                    const int nRot = pieceAngles(e, cs + t * items + hl * d.A, n0 / 2, d.A, quad);
                    makePiece(v, job.sIdx ? s2.y : s2.x, w, bias, e, nRot);
                    const int64_t at = r * rowQK + hOff;
                    store8Bf16(job.dst + at, v);
                    if (job.last && tok == pl.T - 1) {
                        *reinterpret_cast<float4*>(job.last + at) = {v[0], v[1], v[2], v[3]};
                        *reinterpret_cast<float4*>(job.last + at + 4) = {v[4], v[5], v[6], v[7]};
                    }
                }
            }
        }
        __syncthreads();
    }
    if (one && it.live) angleState[k.b * HA + it.col] = theta;
}

bool aligned16(const void* ptr) {
    return reinterpret_cast<uintptr_t>(ptr) % 16 == 0;
}

}  // namespace

bool prefill_qk_angles_bf16_forward(const ops::Mamba3Dims& d, const ops::Mamba3PreprocessParams& p,
                                    const float* proj, int64_t batch, int64_t T, float* angleState,
                                    void* segScratch, size_t segScratchBytes, void* qb, void* kb,
                                    float* kLast, float* dt, float* adt, float* trap,
                                    cudaStream_t s) {
    if (d.mimo || d.R != 1 || d.H <= 0 || d.A <= 0 || d.N % kPiece != 0 || 2 * d.A > d.N ||
        d.G <= 0 || d.H % d.G != 0 || batch <= 0 || T <= 0)
        return false;
    const Plan pl = planFor(d, T);
    const int64_t HA = int64_t(d.H) * d.A;
    const int64_t blocks = int64_t(pl.nChunks) * batch * pl.nSeg;
    // Several segments: the look-back's scratch (counter, flags, totals, inclusive sums in
    // turns) at 16 bytes, its counter and flags zeroed below.
    auto* sBase =
        reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(segScratch) + 15) / 16 * 16);
    const size_t flagBytes = (size_t(blocks) * sizeof(int) + 15) / 16 * 16;
    const size_t sums = size_t(batch) * pl.nSeg * HA * sizeof(uint64_t);
    const size_t need = pl.nSeg > 1 ? 15 + 16 + flagBytes + 2 * sums : 0;
    // The pieces are stored 16 bytes at a time (kLast's too).
    if (pl.hc * d.A > kItems || need > segScratchBytes || blocks > INT32_MAX || !aligned16(qb) ||
        !aligned16(kb) || !aligned16(kLast))
        return false;
    // 16-byte loads of the C/B rows and the weights where every row and vector allows them.
    const bool vec = d.dInProj() % 4 == 0 && d.offB() % 4 == 0 && d.offC() % 4 == 0 &&
                     aligned16(proj) && aligned16(p.cNorm) && aligned16(p.bNorm) &&
                     aligned16(p.cBias) && aligned16(p.bBias);
    // Past 48 KB of shared memory (the benchmark's: ~59 KB) the kernel must be allowed it;
    // where the device refuses, nothing is launched and the caller takes the three ops.
    const size_t smem = qkBytes(d, pl);
    auto* qkK = vec ? qkKernel<true> : qkKernel<false>;
    if (smem > kDefaultSmem &&
        cudaFuncSetAttribute(qkK, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)) !=
            cudaSuccess) {
        (void)cudaGetLastError();  // not left for the caller's error checks
        return false;
    }
    SegScan sc{};
    if (pl.nSeg > 1) {
        sc.counter = reinterpret_cast<unsigned*>(sBase);
        sc.flags = reinterpret_cast<int*>(sBase + 16);
        sc.agg = reinterpret_cast<uint64_t*>(sBase + 16 + flagBytes);
        sc.incl = sc.agg + size_t(batch) * pl.nSeg * HA;
        if (cudaMemsetAsync(sBase, 0, 16 + flagBytes, s) != cudaSuccess) {
            (void)cudaGetLastError();
            return false;
        }
    }
    qkK<<<unsigned(blocks), kThreads, smem, s>>>(
        detail::kdims(d), p, proj, pl, sc, angleState, static_cast<__nv_bfloat16*>(qb),
        static_cast<__nv_bfloat16*>(kb), kLast, dt, adt, trap);
    return true;
}

}  // namespace lectern::cuda
