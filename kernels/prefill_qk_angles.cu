// The bf16 SISO prefill's preprocess (dt, A·dt, trap, the running rotary angles, q/k in
// bf16) in one launch; neither the angle increments nor the running angles go through
// device memory (NOTES-gpu.md, prefill fifth and sixth passes, session 6's q/k op
// look-back and session 7's q/k op toward its write floor). A document is cut into
// segments of >= 64 tokens and the heads into chunks of hc (hc·A <= 256 (head, angle)
// items); a block per (segment, head chunk), the chunk fastest so that a segment's chunks
// share its rows in L2:
//   1. totals: tanh(angles)·π and dt staged in shared memory (dt, A·dt, trap written out;
//      a whole 64-token segment's at once where they fit, and then kept for step 3), and
//      each (head, angle) thread sums its increments over the segment (double);
//   2. bases: a decoupled look-back over the document's segments in fixed-point turns
//      (exact integer sums: the same base whichever predecessors a block adds, so the
//      result does not depend on the blocks' timing); the last segment writes the final
//      angle into the state. Blocks take their order from a counter, so a block waits only
//      for blocks that already run;
//   3. q/k: per tile of 16 tokens, the C/B rows copied to shared memory by cp.async (the
//      next tile's while this one is written: two buffers, the first issued before step
//      1); their RMSNorm scales (8 threads a row, the warp reduction's exact tree); each
//      (head, angle) thread runs its angle from its base and leaves cos/sin (by the SFU)
//      in shared memory; then each thread writes one (q or k, head, 8-element piece) over
//      the tile's tokens (normalised, weighted, biased, rotated) by 16-byte stores with
//      the piece's weights in registers. A head's rotated pieces and its plain ones go to
//      different warps, so that a warp takes one path. The staged rows and cos/sin lie in
//      a split order (rowPos, csPos) that makes the pieces' 16-byte shared reads
//      conflict-free.
// The index maths of the staging loops divides by multiply-high (FastDiv): an integer
// division by a runtime divisor was ~20 instructions a copy.
// One segment (T <= 64): the CPU's fp32 angle sequence from the state, no look-back.
// The in_proj rows are fp32, or bf16 (Src; prefill_proj_bf16.h): the same maths on the
// widened values, the C/B rows staged in bf16 (half the bytes) in plain order.
// The training's instance (kTheta, fp32 rows; prefill_qk_angles_theta.h) also stores each
// token's running angle, the float its q/k pairs were rotated by, from step 3's angle loop
// (one coalesced 4-byte store a (token, head, angle) item): the backward reads them.
#include <cuda_bf16.h>
#include <cuda_pipeline.h>

#include "common.cuh"
#include "cuda/cuda_ops.h"
#include "cuda/prefill_proj_bf16.h"
#include "cuda/prefill_qk_angles_theta.h"
#include "decode_pdl.cuh"
#include "mamba3_scalars.cuh"
#include "mma_bf16_frags.cuh"

namespace lectern::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kItems = kThreads;   // (head, angle) items a block at most: one a thread
constexpr int kMaxHeads = 8;       // heads a chunk at most
constexpr int kTile = 16;          // tokens staged at a time
constexpr int kPiece = 8;          // q/k elements a thread writes at once (16 bytes of bf16)
constexpr int kRowLanes = 8;       // threads a staged row's RMSNorm sum
constexpr int64_t kSegMin = 64;    // tokens a segment at least
constexpr int64_t kSegMax = 1024;  // segments a document at most
constexpr size_t kDefaultSmem = 48 * 1024;  // more needs the kernel's opt-in
constexpr double kTwoPiD = 2.0 * 3.14159265358979323846;

// n / d for 0 <= n < 2^31 by a multiply-high, an add and a shift (Granlund-Montgomery
// with s = ⌈log2 d⌉, m = ⌊2^32 (2^s − d) / d⌋ + 1; the add cannot wrap below 2^31).
struct FastDiv {
    unsigned d, m;
    int s;
};

FastDiv fastDiv(unsigned d) {
    int s = 0;
    while ((1u << s) < d) ++s;
    const uint64_t m = ((uint64_t(1) << 32) * ((uint64_t(1) << s) - d)) / d + 1;
    return {d, unsigned(m), s};
}

__device__ __forceinline__ int divBy(const FastDiv& f, int n) {
    return int((__umulhi(unsigned(n), f.m) + unsigned(n)) >> f.s);
}

// Pieces of 8 elements a head's q or k row has rotated (partly, for the last) pairs in:
// 2A <= N elements.
inline int rotatedPieces(const ops::Mamba3Dims& d) {
    return std::min(d.N / kPiece, (d.A + 3) / 4);
}

struct Plan {
    int64_t T, len;   // tokens a document, a segment
    int nSeg;         // segments a document
    int hc, nChunks;  // heads a chunk, chunks
    int ng;           // B/C groups a chunk spans at most (the staged rows' stride)
    int st;           // tokens of scalars staged at a time (a multiple of kTile)
    FastDiv byA, byHc, byNg, byRowCopies;  // the staging loops' divisors
    FastDiv byRot, byPlain;                // a head's rotated and plain pieces (unitOf)
};

// perCopy: the elements a staging copy of the C/B rows moves (16 bytes where the rows allow).
Plan planFor(const ops::Mamba3Dims& d, int64_t T, int perCopy) {
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
    pl.byA = fastDiv(unsigned(d.A));
    pl.byHc = fastDiv(unsigned(pl.hc));
    pl.byNg = fastDiv(unsigned(pl.ng));
    pl.byRowCopies = fastDiv(unsigned(d.N / perCopy));
    const int nP = d.N / kPiece, jr = rotatedPieces(d);
    pl.byRot = fastDiv(unsigned(jr));
    pl.byPlain = fastDiv(unsigned(std::max(1, nP - jr)));
    return pl;
}

// Shared bytes: the staged scalars, cos/sin, the scales and two buffers of a tile's C/B
// rows.
size_t scalarBytes(const ops::Mamba3Dims& d, const Plan& pl) {
    return size_t(pl.st) * (d.A + pl.hc) * sizeof(float);
}
// The staged rows of (token, group) pair p (p = t·pl.ng + g) lie 2N + pad elements apart
// (pad: 16 bytes, 4 floats or 8 bf16), C's first and B's N + pad after it, so that the C rows
// of four tokens (which one warp's row sums in stageScales read at once) start 4 banks
// apart; 16-byte aligned still. (A pad of 16 bytes a row would push the benchmark's block
// past a third of the multiprocessor.)
template <class Src>
constexpr int kRowPad = int(16 / sizeof(Src));
template <class Src>
__host__ __device__ __forceinline__ int pairStride(int N) {
    return 2 * N + kRowPad<Src>;
}
template <class Src>
__device__ __forceinline__ int rowOff(int pair, int half, int N) {
    return pair * pairStride<Src>(N) + half * (N + kRowPad<Src>);
}
template <class Src>
size_t rowBufElems(const ops::Mamba3Dims& d, const Plan& pl) {
    return size_t(kTile) * pl.ng * pairStride<Src>(d.N);
}
template <class Src>
size_t qkBytes(const ops::Mamba3Dims& d, const Plan& pl) {
    return size_t(kTile) * pl.hc * d.A * sizeof(float2) +
           size_t(kTile) * pl.ng * 2 * sizeof(float) + 2 * rowBufElems<Src>(d, pl) * sizeof(Src) +
           scalarBytes(d, pl);
}

__device__ __forceinline__ float toF(float x) {
    return x;
}
__device__ __forceinline__ float toF(__nv_bfloat16 x) {
    return __bfloat162float(x);
}

// Into [0, 2π) up to rounding (by the reciprocal: no double division per token).
__device__ __forceinline__ double wrapD(double u) {
    return u - kTwoPiD * floor(u * (1.0 / kTwoPiD));
}

// This block's document b, segment (len tokens from the row r0 = b·T + t0; the document's
// last token lastOff after its first) and heads [h0, h0 + hc). Offsets within the segment
// are ints (fewer registers live through the write phase).
struct Blk {
    int64_t b, r0, lastOff;
    int len, h0, hc;
};

// vid: the block's place in (document, segment, chunk) order, the chunk fastest.
__device__ __forceinline__ Blk blockOf(const Plan& pl, int H, int64_t vid) {
    Blk k;
    const int64_t row = vid / pl.nChunks;
    k.b = row / pl.nSeg;
    const int64_t t0 = (row % pl.nSeg) * pl.len;
    k.r0 = k.b * pl.T + t0;
    k.len = int(min(pl.T - t0, pl.len));
    k.lastOff = pl.T - 1 - t0;
    k.h0 = int(vid % pl.nChunks) * pl.hc;
    k.hc = min(pl.hc, H - k.h0);
    return k;
}

// The in_proj row of the segment's token o (rows d.dInProj elements apart).
template <class Src>
__device__ __forceinline__ const Src* rowAt(const detail::KDims& d, const Src* proj, const Blk& k,
                                            int o) {
    return proj + (k.r0 + o) * d.dInProj;
}

// The segment's tokens [o, o + ts)'s tanh(angles[a])·π (tp [ts][A]) and its heads' dt (dts
// [ts][pl.hc]): the increment of (t, h, a) is tp·dt, the CPU's tanh(x)·π·dt to the bit. With
// dt set, also the heads' dt, A·dt and trap to device memory. A thread's loads go out
// kLoads at a time before any of them is used (one at a time, each waited on, this pass
// took ~10 round trips to memory a block while its warps issued nothing else). The write
// phase's restaging (long segments only) takes them one at a time: registers are short there.
template <int kLoads, int kHeadLoads, class Src>
__device__ __forceinline__ void stageScalars(const detail::KDims& d,
                                             const ops::Mamba3PreprocessParams& p, const Src* proj,
                                             const Plan& pl, const Blk& k, int o, int ts, float* tp,
                                             float* dts, float* dt, float* adt, float* trap) {
    const int nA = ts * d.A, step = int(blockDim.x);
    for (int i0 = threadIdx.x; i0 < nA; i0 += kLoads * step) {
        float x[kLoads];
#pragma unroll
        for (int j = 0; j < kLoads; ++j) {
            const int i = i0 + j * step, t = divBy(pl.byA, i);
            if (i < nA) x[j] = toF(rowAt(d, proj, k, o + t)[d.offAngles + (i - t * d.A)]);
        }
#pragma unroll
        for (int j = 0; j < kLoads; ++j)
            if (i0 + j * step < nA) tp[i0 + j * step] = tanhf(x[j]) * detail::kPi;
    }
    const int nH = ts * pl.hc;
    for (int i0 = threadIdx.x; i0 < nH; i0 += kHeadLoads * step) {
        float xd[kHeadLoads], xa[kHeadLoads], xt[kHeadLoads];
#pragma unroll
        for (int j = 0; j < kHeadLoads; ++j) {
            const int i = i0 + j * step, t = divBy(pl.byHc, i), hl = i - t * pl.hc, h = k.h0 + hl;
            if (i < nH && hl < k.hc) {
                const Src* row = rowAt(d, proj, k, o + t);
                xd[j] = toF(row[d.offDt + h]) + p.dtBias[h];
                if (dt) xa[j] = toF(row[d.offA + h]), xt[j] = toF(row[d.offTrap + h]);
            }
        }
#pragma unroll
        for (int j = 0; j < kHeadLoads; ++j) {
            const int i = i0 + j * step, t = divBy(pl.byHc, i), hl = i - t * pl.hc, h = k.h0 + hl;
            if (i >= nH || hl >= k.hc) continue;
            const float dth = detail::softplusF(xd[j]);
            dts[i] = dth;
            if (dt) {
                const int64_t at = (k.r0 + o + t) * d.H + h;
                dt[at] = dth;
                adt[at] = fminf(-detail::heavyTailF(xa[j]), -d.aFloor) * dth;
                trap[at] = 1.0f / (1.0f + expf(-xt[j]));
            }
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

// Where element n of a staged row lies: fp32, the first halves of the 8-element pieces, then
// the second halves, so that the write phase's 16-byte reads (lane j: 4j, then N/2 + 4j) are
// contiguous over the lanes (one shared-memory wavefront a quarter warp; the plain row
// took two); bf16, in order (a piece is one 16-byte read).
template <class Src>
constexpr bool kSplitRows = sizeof(Src) == 4;
template <class Src>
__device__ __forceinline__ int rowPos(int n, int N) {
    if constexpr (!kSplitRows<Src>) return n;
    return (n & 4 ? N / 2 : 0) + (n >> 3) * 4 + (n & 3);
}

// Where pair a's cos/sin lie in a head's row of them: for A % 4 == 0 (quad) the same
// split, pairs 4j, 4j + 1 at 2j and 4j + 2, 4j + 3 at A/2 + 2j (two 16-byte reads a piece,
// contiguous over the lanes, for four 8-byte reads with 4-way bank conflicts); else plain.
__device__ __forceinline__ int csPos(int a, int A, bool quad) {
    return quad ? (a & 2 ? A / 2 : 0) + (a >> 2) * 2 + (a & 1) : a;
}

// The tile's C and B rows of the chunk's groups into shared memory (rows [ts][pl.ng][C,
// B] at rowOff, each in rowPos order; groups past the block's ng are left out) by cp.async, 16
// bytes a copy where the rows allow it (Vec; always for bf16), else 4; committed as one group.
template <bool Vec, class Src>
__device__ __forceinline__ void stageRows(const detail::KDims& d, const Src* proj, const Plan& pl,
                                          const Blk& k, int o, int ts, int gLo, int ng, Src* rows) {
    static_assert(Vec || sizeof(Src) == 4, "bf16 rows are copied 16 bytes at a time");
    constexpr int kW = Vec ? int(16 / sizeof(Src)) : 1;  // elements a copy
    const int perRow = d.N / kW;
    for (int i = threadIdx.x; i < ts * pl.ng * 2 * perRow; i += blockDim.x) {
        const int rest = divBy(pl.byRowCopies, i), c = i - rest * perRow;
        const int tg = rest >> 1, t = divBy(pl.byNg, tg), g = tg - t * pl.ng;
        if (g >= ng) continue;
        const Src* src = rowAt(d, proj, k, o + t) + (rest & 1 ? d.offB : d.offC) +
                         int64_t(gLo + g) * d.N + c * kW;
        __pipeline_memcpy_async(rows + rowOff<Src>(tg, rest & 1, d.N) + rowPos<Src>(c * kW, d.N),
                                src, kW * sizeof(Src));
    }
    __pipeline_commit();
}

// The RMSNorm scales of the staged rows (scl [ts][pl.ng][C's, B's]): kRowLanes threads a
// row. The three-op path's kernel sums a row by a warp (lane L: n = L, L + 32, ..., then
// warpSum's butterfly 16, 8, 4, 2, 1); here thread j of a row's eight holds lanes j, j + 8,
// j + 16, j + 24, adds them as the butterfly's first two levels would and shuffles the last
// three: the same floats, a quarter of the instructions.
template <class Src>
__device__ __forceinline__ void stageScales(const detail::KDims& d, const Plan& pl, const Src* rows,
                                            int ts, int ng, float* scl) {
    const int j = int(threadIdx.x) % kRowLanes;
    const unsigned group = 0xFFu << (threadIdx.x & 24u);  // this row's eight lanes
    int pos[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) pos[q] = rowPos<Src>(j + 8 * q, d.N);
    // Task r: pair (r / 8)·4 + r % 4, half (r / 4) % 2: a warp's four rows are four
    // tokens' C rows (or B rows), at different banks.
    const int pairs = ts * pl.ng, tasks = (pairs + 3) / 4 * 8;
#pragma unroll 1
    for (int r = int(threadIdx.x) / kRowLanes; r < tasks; r += kThreads / kRowLanes) {
        const int pair = (r >> 3) * 4 + (r & 3), half = (r >> 2) & 1;
        // No such pair, or a group past the block's.
        if (pair >= pairs || pair - divBy(pl.byNg, pair) * pl.ng >= ng) continue;
        const Src* x = rows + rowOff<Src>(pair, half, d.N);
        float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int i = 0; i < d.N; i += 32)  // rowPos(n + 32) = rowPos(n) + 16 (fp32), + 32
#pragma unroll
            for (int q = 0; q < 4; ++q)
                if (j + 8 * q + i < d.N) {
                    const float v = toF(x[pos[q] + (kSplitRows<Src> ? i / 2 : i)]);
                    s[q] += v * v;
                }
        float v = (s[0] + s[2]) + (s[1] + s[3]);
        for (int o = kRowLanes / 2; o > 0; o >>= 1) v += __shfl_xor_sync(group, v, o);
        if (j == 0) scl[pair * 2 + half] = rsqrtf(v / float(d.N) + d.eps);
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

// One 16-byte store (a struct of four bfloat162 went out as four 4-byte stores).
__device__ __forceinline__ void store8Bf16(__nv_bfloat16* dst, const float (&v)[kPiece]) {
    using mma16::packBf16;
    *reinterpret_cast<uint4*>(dst) = make_uint4(packBf16(v[0], v[1]), packBf16(v[2], v[3]),
                                                packBf16(v[4], v[5]), packBf16(v[6], v[7]));
}

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
// pairs rotated by their cos/sin, which e holds negated (as the SFU gives them for θ − π):
// v0·c − v1·s as fma(−v0, −c, v1·(−s)) and v0·s + v1·c as fma(−v0, −s, −(v1·(−c))), the
// same roundings as fma(v0, c, −(v1·s)) and fma(v0, s, v1·c), the negations free.
__device__ __forceinline__ void makePiece(float (&v)[kPiece], float s, const float (&w)[kPiece],
                                          const float (&bias)[kPiece],
                                          const float2 (&e)[kPiece / 2], int nRot) {
#pragma unroll
    for (int i = 0; i < kPiece; ++i) v[i] = v[i] * s * w[i] + bias[i];
#pragma unroll
    for (int i = 0; i < kPiece / 2; ++i) {
        if (i < nRot) {
            const float v0 = v[2 * i], v1 = v[2 * i + 1];
            v[2 * i] = fmaf(-v0, e[i].x, v1 * e[i].y);
            v[2 * i + 1] = fmaf(-v0, e[i].y, -(v1 * e[i].x));
        }
    }
}

// A unit of the write phase: q (job 0, from the C rows) or k (job 1, from the B rows), head
// hl of the chunk, the piece from element n0; nRot of its pairs rotated. Units 0 .. U − 1
// are q's, U .. 2U − 1 k's; in each, every head's rotated pieces (the first jr) come before
// the plain ones, so that a warp's lanes mostly take one path.
struct Unit {
    int job, hl, n0, nRot;
};

// Made again each tile (a few instructions by FastDiv): kept, it pushed the kernel past its
// 80 registers.
__device__ __forceinline__ Unit unitOf(const Plan& pl, int w, int U, int hc, int nP, int A) {
    Unit un;
    un.job = w >= U;
    const int jr = int(pl.byRot.d), u = w - un.job * U, rotated = hc * jr;
    if (u < rotated) {
        un.hl = divBy(pl.byRot, u);
        un.n0 = (u - un.hl * jr) * kPiece;
    } else {
        const int v = u - rotated, plain = nP - jr;
        un.hl = divBy(pl.byPlain, v);
        un.n0 = (jr + v - un.hl * plain) * kPiece;
    }
    un.nRot = min(max(A - un.n0 / 2, 0), kPiece / 2);
    return un;
}

// A unit's walk over the tile's tokens t = t0, t0 + step, ... < ts: its staged rows, scales,
// cos/sin and destination (bf16, or fp32 for k of a document's last token) each a stride
// apart.
template <class Src>
struct PieceRun {
    const Src* src;
    const float* scl;
    const float2* cs;
    void* dst;
    int srcStep, sclStep, csStep;
    int64_t dstStep;  // elements
    int t0, ts, step, m0, A, halfN;
};

// kRot: 0 no pair rotated, 1 all four (A % 4 == 0: the quad cos/sin order), 2 as they fall.
// Fp32: the pieces to float dst (the last k row) rather than bf16.
template <int kRot, bool Fp32, class Src>
__device__ __forceinline__ void writePieces(PieceRun<Src> r, const float (&w)[kPiece],
                                            const float (&bias)[kPiece]) {
#pragma unroll 1
    for (int t = r.t0; t < r.ts; t += r.step) {
        float v[kPiece];
        if constexpr (kSplitRows<Src>) {
            const float4 lo = *reinterpret_cast<const float4*>(r.src);
            const float4 hi = *reinterpret_cast<const float4*>(r.src + r.halfN);
            v[0] = lo.x, v[1] = lo.y, v[2] = lo.z, v[3] = lo.w;
            v[4] = hi.x, v[5] = hi.y, v[6] = hi.z, v[7] = hi.w;
        } else {  // the piece's 8 bf16 in one read
            const uint4 u = *reinterpret_cast<const uint4*>(r.src);
            const uint32_t h[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                v[2 * i] = __uint_as_float(h[i] << 16);
                v[2 * i + 1] = __uint_as_float(h[i] & 0xFFFF0000u);
            }
        }
        float2 e[kPiece / 2];
        int nRot = 0;
        if constexpr (kRot == 1) {
            pieceAngles(e, r.cs, r.m0, r.A, true);
            nRot = kPiece / 2;
        } else if constexpr (kRot == 2) {
            nRot = pieceAngles(e, r.cs, r.m0, r.A, false);
        }
        makePiece(v, *r.scl, w, bias, e, nRot);
        if constexpr (Fp32) {
            float* dst = static_cast<float*>(r.dst);
            *reinterpret_cast<float4*>(dst) = {v[0], v[1], v[2], v[3]};
            *reinterpret_cast<float4*>(dst + 4) = {v[4], v[5], v[6], v[7]};
            r.dst = dst + r.dstStep;
        } else {
            store8Bf16(static_cast<__nv_bfloat16*>(r.dst), v);
            r.dst = static_cast<__nv_bfloat16*>(r.dst) + r.dstStep;
        }
        r.src += r.srcStep, r.scl += r.sclStep, r.cs += r.csStep;
    }
}

template <bool Fp32, class Src>
__device__ __forceinline__ void writeUnit(const PieceRun<Src>& r, int nRot, bool quad,
                                          const float (&w)[kPiece], const float (&bias)[kPiece]) {
    if (nRot == 0)
        writePieces<0, Fp32>(r, w, bias);
    else if (nRot == kPiece / 2 && quad)
        writePieces<1, Fp32>(r, w, bias);
    else
        writePieces<2, Fp32>(r, w, bias);  // A % 4 != 0 here: the plain cos/sin order
}

// 3 blocks a multiprocessor (<= 80 registers; unbounded, ptxas takes ~120, and 2 blocks a
// multiprocessor measured 381 µs a layer for 335, session 7).
// kTheta: the running angles to thetaOut [rows, H, A] too (the training's instance; the
// prefill's take false and never read the pointer).
template <bool Vec, class Src, bool kTheta>
__global__ void __launch_bounds__(kThreads, 3)
    qkKernel(detail::KDims d, ops::Mamba3PreprocessParams p, const Src* __restrict__ proj, Plan pl,
             SegScan sc, float* __restrict__ angleState, __nv_bfloat16* __restrict__ qb,
             __nv_bfloat16* __restrict__ kb, float* __restrict__ kLast, float* __restrict__ dt,
             float* __restrict__ adt, float* __restrict__ trap, float* __restrict__ thetaOut) {
    extern __shared__ float4 smem[];
    __shared__ unsigned shVid;
    // The prefill's walk, launched as a programmatic dependent (ssm_prefill_scan_bf16.cu), may
    // start once every block of this op runs: it waits for this op's end before any read.
    detail::pdlLaunchDependents();
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
    const int rowElems = kTile * pl.ng * pairStride<Src>(d.N);
    float2* cs = reinterpret_cast<float2*>(smem);                     // [kTile][items]: cos, sin
    float* scl = reinterpret_cast<float*>(cs + kTile * pl.hc * d.A);  // [kTile][pl.ng][C, B]
    // two of [kTile][pl.ng] row pairs (rowOff)
    Src* rowBuf = reinterpret_cast<Src*>(scl + kTile * pl.ng * 2);
    float* tp = reinterpret_cast<float*>(rowBuf + 2 * rowElems);  // [st][A]
    float* dts = tp + pl.st * d.A;                                // [st][pl.hc]

    // The first tile's rows on their way while the scalars are staged and summed.
    stageRows<Vec>(d, proj, pl, k, 0, min(kTile, k.len), gLo, ng, rowBuf);

    // Pass 1: the scalars staged (dt, A·dt, trap written), the segment's total summed.
    double run = 0.0;
    int staged = 0;
    for (int o = 0; o < k.len; o += pl.st) {
        const int ts = min(pl.st, k.len - o);
        staged = o;
        stageScalars<8, 2>(d, p, proj, pl, k, o, ts, tp, dts, dt, adt, trap);
        __syncthreads();
        if (it.live && !one)
            for (int t = 0; t < ts; ++t) run += double(tp[t * d.A + it.a] * dts[t * pl.hc + it.hl]);
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

    // Pass 2, the write phase. Each thread's unit (2U of them: q and k, hc heads, nP
    // pieces) is fixed; tokPar tokens at a time when 2U fits in the block several times,
    // else the units loop, a token at a time.
    const int nP = d.N / kPiece;
    const int U = k.hc * nP, nUnits = 2 * U;
    const int tokPar = max(1, kThreads / nUnits);
    const int tsub = nUnits <= kThreads ? int(threadIdx.x) / nUnits : 0;
    const int wFirst = nUnits <= kThreads ? int(threadIdx.x) % nUnits : int(threadIdx.x);
    const int64_t rowQK = int64_t(d.H) * d.N;

    int buf = 0;
    for (int o = 0; o < k.len; o += kTile, buf ^= 1) {
        const int ts = min(kTile, k.len - o);
        const Src* rows = rowBuf + buf * rowElems;
        __pipeline_wait_prior(0);
        __syncthreads();  // this tile's rows in; the last tile's pieces done with cs, scl, rows
        if (o + kTile < k.len)
            stageRows<Vec>(d, proj, pl, k, o + kTile, min(kTile, k.len - o - kTile), gLo, ng,
                           rowBuf + (buf ^ 1) * rowElems);
        // The scalars of this tile: still staged from pass 1 unless the segment is longer.
        const int want = o / pl.st * pl.st;
        if (want != staged) {
            staged = want;
            stageScalars<1, 1>(d, p, proj, pl, k, want, min(pl.st, k.len - want), tp, dts, nullptr,
                               nullptr, nullptr);
            __syncthreads();
        }
        stageScales(d, pl, rows, ts, ng, scl);
        if (it.live) {
            // Pointers walked a token at a time (indexed, each access took its own multiply).
            const float* tpP = tp + (o - staged) * d.A + it.a;
            const float* dtP = dts + (o - staged) * pl.hc + it.hl;
            float2* csP = cs + it.hl * d.A + csPos(it.a, d.A, quad);
            float* thP = kTheta ? thetaOut + (k.r0 + o) * HA + it.col : nullptr;
            // The theta instance unrolled by 2 spilled 8 bytes at its 80 registers.
#pragma unroll(kTheta ? 1 : 2)
            for (int t = 0; t < ts; ++t) {
                const float inc = *tpP * *dtP;
                if (one) {
                    const float u = theta + inc;
                    theta = u - twoPi * floorf(u / twoPi);
                } else {
                    run += double(inc);
                    theta = float(wrapD(base + run));
                }
                if constexpr (kTheta) {
                    *thP = theta;
                    thP += HA;
                }
                // By the SFU on [-π, π) (sin, cos of theta − π are minus theta's, and are kept
                // so: makePiece folds the signs): 4e-7 at most off sincosf, far under the
                // angle's own rounding past one segment.
                float sn, cn;
                __sincosf(theta - detail::kPi, &sn, &cn);
                *csP = {cn, sn};
                tpP += d.A, dtP += pl.hc, csP += items;
            }
        }
        __syncthreads();
        for (int w = wFirst; tsub < tokPar && w < nUnits; w += kThreads) {
            const Unit un = unitOf(pl, w, U, k.hc, nP, d.A);
            const int h = k.h0 + un.hl, gl = h / hpg - gLo;
            float wt[kPiece], bias[kPiece];
            load8<Vec>((un.job ? p.bNorm : p.cNorm) + un.n0, wt);
            load8<Vec>((un.job ? p.bBias : p.cBias) + int64_t(h) * d.N + un.n0, bias);
            const int64_t col = int64_t(h) * d.N + un.n0;
            // The unit's run over the tile's tokens t0, t0 + tokPar, ... < tEnd.
            const auto runFrom = [&](int t0, int tEnd, void* dst) {
                PieceRun<Src> r;
                r.src = rows + rowOff<Src>(t0 * pl.ng + gl, un.job, d.N) +
                        (kSplitRows<Src> ? un.n0 / 2 : un.n0);
                r.scl = scl + (t0 * pl.ng + gl) * 2 + un.job;
                r.cs = cs + t0 * items + un.hl * d.A;
                r.dst = dst;
                r.srcStep = tokPar * pl.ng * pairStride<Src>(d.N);
                r.sclStep = tokPar * pl.ng * 2;
                r.csStep = tokPar * items;
                r.dstStep = tokPar * rowQK;
                r.t0 = t0, r.ts = tEnd, r.step = tokPar, r.m0 = un.n0 / 2, r.A = d.A;
                r.halfN = d.N / 2;
                return r;
            };
            // k of the document's last token also in fp32 (it becomes the state's key): that
            // one piece made apart and first (nothing of it then stays live through the loop
            // below, which carries no test for it).
            const int64_t tLast = k.lastOff - o;
            if (un.job == 1 && kLast && tLast < ts && tLast >= tsub && (tLast - tsub) % tokPar == 0)
                writeUnit<true>(
                    runFrom(int(tLast), int(tLast) + 1, kLast + (k.r0 + k.lastOff) * rowQK + col),
                    un.nRot, quad, wt, bias);
            writeUnit<false>(
                runFrom(tsub, ts, (un.job ? kb : qb) + (k.r0 + o + tsub) * rowQK + col), un.nRot,
                quad, wt, bias);
        }
    }
    if (one && it.live) angleState[k.b * HA + it.col] = theta;
}

bool aligned16(const void* ptr) {
    return reinterpret_cast<uintptr_t>(ptr) % 16 == 0;
}

// The op for in_proj rows of Src, d.dInProj elements apart (kd; the model's dims d otherwise).
// thetaOut: fp32 rows only (the training's instance); null for the prefill's.
template <class Src>
bool launchQk(const ops::Mamba3Dims& d, const detail::KDims& kd,
              const ops::Mamba3PreprocessParams& p, const Src* proj, int64_t batch, int64_t T,
              float* angleState, void* segScratch, size_t segScratchBytes, void* qb, void* kb,
              float* kLast, float* dt, float* adt, float* trap, cudaStream_t s,
              float* thetaOut = nullptr) {
    if (d.mimo || d.R != 1 || d.H <= 0 || d.A <= 0 || d.N % kPiece != 0 || 2 * d.A > d.N ||
        d.G <= 0 || d.H % d.G != 0 || batch <= 0 || T <= 0)
        return false;
    // 16-byte loads of the C/B rows and the weights where every row and vector allows them
    // (bf16 rows: only so).
    constexpr int kPerVec = int(16 / sizeof(Src));
    const bool vec = kd.dInProj % kPerVec == 0 && kd.offB % kPerVec == 0 &&
                     kd.offC % kPerVec == 0 && aligned16(proj) && aligned16(p.cNorm) &&
                     aligned16(p.bNorm) && aligned16(p.cBias) && aligned16(p.bBias);
    if (sizeof(Src) != 4 && !vec) return false;
    const Plan pl = planFor(d, T, vec ? kPerVec : 1);
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
    // Past 48 KB of shared memory (the benchmark's: ~74 KB) the kernel must be allowed it;
    // where the device refuses, nothing is launched and the caller takes the three ops.
    const size_t smem = qkBytes<Src>(d, pl);
    auto* qkK = vec ? qkKernel<true, Src, false> : qkKernel<sizeof(Src) != 4, Src, false>;
    if constexpr (sizeof(Src) == 4)
        if (thetaOut) qkK = vec ? qkKernel<true, Src, true> : qkKernel<false, Src, true>;
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
        kd, p, proj, pl, sc, angleState, static_cast<__nv_bfloat16*>(qb),
        static_cast<__nv_bfloat16*>(kb), kLast, dt, adt, trap, thetaOut);
    return true;
}

}  // namespace

bool prefill_qk_angles_bf16_forward(const ops::Mamba3Dims& d, const ops::Mamba3PreprocessParams& p,
                                    const float* proj, int64_t batch, int64_t T, float* angleState,
                                    void* segScratch, size_t segScratchBytes, void* qb, void* kb,
                                    float* kLast, float* dt, float* adt, float* trap,
                                    cudaStream_t s) {
    return launchQk(d, detail::kdims(d), p, proj, batch, T, angleState, segScratch, segScratchBytes,
                    qb, kb, kLast, dt, adt, trap, s);
}

bool prefill_qk_angles_bf16_theta_forward(const ops::Mamba3Dims& d,
                                          const ops::Mamba3PreprocessParams& p, const float* proj,
                                          int64_t batch, int64_t T, float* angleState,
                                          void* segScratch, size_t segScratchBytes, void* qb,
                                          void* kb, float* kLast, float* dt, float* adt,
                                          float* trap, float* theta, cudaStream_t s) {
    if (theta == nullptr) return false;
    return launchQk(d, detail::kdims(d), p, proj, batch, T, angleState, segScratch, segScratchBytes,
                    qb, kb, kLast, dt, adt, trap, s, theta);
}

bool prefill_qk_angles_bf16_proj_forward(const ops::Mamba3Dims& d,
                                         const ops::Mamba3PreprocessParams& p, const void* projBf16,
                                         int64_t ld, int64_t batch, int64_t T, float* angleState,
                                         void* segScratch, size_t segScratchBytes, void* qb,
                                         void* kb, float* kLast, float* dt, float* adt, float* trap,
                                         cudaStream_t s) {
    if (ld < d.dInProj() || ld % 8 != 0) return false;
    detail::KDims kd = detail::kdims(d);
    kd.dInProj = ld;  // the rows' stride, all the kernel reads it for
    return launchQk(d, kd, p, static_cast<const __nv_bfloat16*>(projBf16), batch, T, angleState,
                    segScratch, segScratchBytes, qb, kb, kLast, dt, adt, trap, s);
}

}  // namespace lectern::cuda
