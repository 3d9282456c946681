// Whole-document prefill scan for SISO on the tensor cores (issue 4): the official Mamba-3
// structure, where a program walks its chunks in order with the state on chip, so q, k, x
// are read once and y (or the gated output) written once, instead of the three passes of
// ssm_chunk_scan_bf16.cu (chunk states through device memory). Same maths as those
// phases (bf16 operands, fp32 scores, weights, state and accumulation).
//
// One walk fills too few multiprocessors at batch 1 (64 heads: 64 programs), so each
// document's chunks are split into S segments:
//  1. stateWalk (segments 0..S-2, each in F finer pieces): each piece walks its chunks for
//     the state only (k, v, no scores), from the incoming state (the first) or from zero,
//     and leaves its end state and its decay e^{Σ adt};
//  2. walk (all S segments): the entry state of segment s > 0 is combined from those
//     (In_1 = end_0, In_{u+1} = decay_u·In_u + end_u over the pieces); then per chunk:
//       Y = e^{cs_t}·Q·S_inᵀ + M·V (+ D·x), M the masked decay/trapezoid weights of Q·Kᵀ
//       (with the pending k, v of the token before the chunk as one more key column),
//       S <- e^{cs_last}·S + (w ∘ V)ᵀ·K,
//     the products as mma.sync with the fragments in registers (mma_bf16_frags.cuh), the
//     state in accumulators, its bf16 copy in shared memory for the next chunk's Q·Sᵀ.
//     The output straight from the y registers: y + D·x, or the gate (RMSNorm over P with
//     the two warps of a row exchanging their sums, weight, ·silu(z)) in fp32 or bf16.
//  3. finish: the final state and the last token's k, x become the document's state
//     (written last: the walks read the incoming ones). With one segment (kXB) the walk's
//     block, the only reader of the document's ssm state, writes it itself (not fin).
// x and z come from fp32 in_proj rows, or (kXB, prefill_proj_bf16.h) from bf16 ones: then x's
// rows go straight into V by asynchronous copies (no fp32 staging, no conversion pass; D·x
// reads them there) and z is staged in bf16.
// The kXB prefill launches the state walk, the walk and finish as programmatic dependents
// (decode_pdl.cuh) where the device has them: each waits for its predecessor before reading
// anything and lets its own dependent launch once its blocks all run, so the next kernel's
// launch and block dispatch overlap this one's tail. LECTERN_PREFILL_PDL=0: plain launches.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "cuda/prefill_proj_bf16.h"
#include "cuda/prefill_walk_bf16_out.h"
#include "decode_pdl.cuh"
#include "mma_bf16_frags.cuh"
#include "ssm_chunk_scan_bf16_tiles.cuh"

namespace lectern::cuda::scan {
namespace {

using namespace tc;
using namespace mma16;

constexpr int kStTiles = 4;  // 16×16 state tiles a warp holds: (P/16)·(N/16) <= 32
// The warp's state: tile i, its two 16×8 halves, the four accumulator elements (mma16).
using StateAcc = float[kStTiles][2][4];

struct WalkArgs {
    ScanArgs a;  // d, in, st, y, T, Ck, nC (the rest unused)
    PrefillGate gate;
    bf16* outB;         // the gate's output in bf16 instead of gate.out (or null)
    float* segEnd;      // [B, H, (S-1)·F, P·N] the state walk's end states
    float* segDecay;    // [B, H, (S-1)·F]
    float* fin;         // [B, H, P·N] the final states until finish copies them
    int S, segChunks;   // the walk's segments
    int F, fineChunks;  // the state walk's pieces: F a segment, fineChunks chunks each
    // The training forward (walkKernel<true, P, true>): the fp32 state entering every
    // ckptStride-th chunk, [B, nChk, H, P·N] (the scan backward's checkpoints). Last, so that
    // the prefill's fields keep their offsets.
    float* ckpt;
    int ckptStride;
    // kXB: x's and z's bf16 rows (a.in.xStride and gate.zStride elements apart; a.in.x and
    // gate.z unused).
    const bf16* xb;
    const bf16* zb;
    // kXB with one segment: the walk writes the document's ssm state itself (its block is
    // the only one that reads it); finish then copies only k and v.
    int stateInWalk;
};

struct LayoutW {
    int ldq, ldv, ldx;
    size_t q, k, v, sb, xs, zs, ss, scal, total;
};

// full: the walk (also Q, the state's bf16 copy, z and the row sums); else the state walk.
// x and z rows are staged in fp32 with P + 8 floats a row, so that the epilogue's float2
// reads of a fragment's rows are free of bank conflicts. ~105 KB at N = 128, P = 64 (two
// blocks a multiprocessor), the state walk's ~52 KB. xb (x and z from bf16 rows): no x
// staging (x goes straight into V), z in bf16 with P + 8 a row (~78 KB; ~34 KB).
__host__ __device__ inline LayoutW layoutW(int N, int P, bool full, bool xb = false) {
    LayoutW l{};
    l.ldq = N + 8;
    l.ldv = P + 8;
    l.ldx = P + 8;
    size_t at = 0;
    l.q = at;
    at += full ? size_t(kRows) * l.ldq * 2 : 0;
    l.k = at;
    at += size_t(kCols) * l.ldq * 2;
    l.v = at;
    at += size_t(kCols) * l.ldv * 2;
    l.sb = at;
    at += full ? size_t(P) * l.ldq * 2 : 0;
    l.xs = at;
    at += xb ? 0 : size_t(kRows) * l.ldx * 4;
    l.zs = at;
    at += full ? size_t(kRows) * l.ldx * (xb ? 2 : 4) : 0;
    l.ss = at;
    at += full ? size_t(2 * kRows) * 4 : 0;
    l.scal = at;
    l.total = at + size_t(5 * kRows + kCols) * 4;
    return l;
}

constexpr float kLog2e = 1.4426950408889634f;

// 2^x on the special-function unit: what __expf does after its multiply by log2 e, so the
// weights' exponents can be pre-scaled once a row and a key instead of once an element.
__device__ __forceinline__ float ex2(float x) {
    float r;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
    return r;
}

// 1/x on the special-function unit (within an ulp or two: enough for the index splits below).
__device__ __forceinline__ float rcpApprox(float x) {
    float r;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
    return r;
}

// silu(u) = u / (1 + e^-u) with the special-function unit's reciprocal instead of an IEEE
// division (whose exact path costs a check and a slow branch an element): within a few ulp of
// detail::siluf, far below the gate's bf16 rounding. Local to the walk so that the other
// kernels' results stay as they are.
__device__ __forceinline__ float siluFast(float u) {
    return u * rcpApprox(1.0f + ex2(-u * kLog2e));
}

// A thread's fixed share of a bf16 [rows, N] copy in 16-byte pieces: piece n of rows j0,
// j0 + step, ..., worked out once so that the chunk loop divides by nothing (N is a runtime
// value). copy(): rows [0, nCopy) from src + j·stride (16-byte aligned; row pendRow from
// src − stride, the token before the chunk) by asynchronous copies (the caller commits and
// waits), rows [zeroFrom, zeroTo) zero, the rows between left alone. Both sides are stepped by
// pointer increments: a 64-bit row index for each piece cost ~15 instructions.
struct RowPieces {
    int j0, n, step;
    RowPieces() = default;
    // Rows of a compile-time kN8 pieces (the divisions are shifts).
    template <int kN8>
    __device__ static RowPieces of() {
        RowPieces r;
        r.step = kThreads / kN8;
        r.j0 = int(threadIdx.x) / kN8;
        r.n = 8 * (int(threadIdx.x) % kN8);
        return r;
    }
    __device__ explicit RowPieces(int N) {  // the divisions by a multiply (exact, as TileDiv)
        const int n8 = N / 8;
        const float r = rcpApprox(float(n8));
        step = int((float(kThreads) + 0.5f) * r);
        j0 = int((float(threadIdx.x) + 0.5f) * r);
        n = 8 * (int(threadIdx.x) - j0 * n8);
        if (j0 >= step) j0 = 1 << 20;  // past every row: idle
    }
    __device__ __forceinline__ void copy(int nCopy, int zeroFrom, int zeroTo, bf16* dst, int ld,
                                         const bf16* src, int stride, int pendRow) const {
        if (j0 >= zeroTo) return;
        const bf16* from = src + int64_t(j0) * stride + n;
        bf16* at = dst + j0 * ld + n;
        for (int j = j0; j < zeroTo; j += step, from += step * stride, at += step * ld) {
            if (j < nCopy)
                __pipeline_memcpy_async(at, j == pendRow ? src - stride + n : from, 16);
            else if (j >= zeroFrom)
                *reinterpret_cast<uint4*>(at) = make_uint4(0u, 0u, 0u, 0u);
        }
    }
};

// Rows [0, nRows) of P floats (row j at src(j), 16-byte aligned) to fp32 shared memory by
// asynchronous copies; the caller commits and waits.
// (P is a compile-time value here: a thread keeps its column and steps rows by pointer
// increments.)
__device__ __forceinline__ void stageRowsAsync(int nRows, int P, float* dst, int ld,
                                               const float* src, int64_t stride) {
    const int p4 = P / 4, p = 4 * (int(threadIdx.x) % p4), rows = kThreads / p4;
    int j = threadIdx.x / p4;
    const float* from = src + j * stride + p;
    for (float* at = dst + j * ld + p; j < nRows; j += rows, from += rows * stride, at += rows * ld)
        __pipeline_memcpy_async(at, from, 16);
}
// The same for rows of kP bf16 (row j at src + j·stride, 16-byte aligned) into bf16.
template <int kP>
__device__ __forceinline__ void stageBf16RowsAsync(int nRows, bf16* dst, int ld, const bf16* src,
                                                   int64_t stride) {
    constexpr int p8 = kP / 8, rows = kThreads / p8;
    const int p = 8 * (int(threadIdx.x) % p8);
    int j = threadIdx.x / p8;
    const bf16* from = src + j * stride + p;
    for (bf16* at = dst + j * ld + p; j < nRows; j += rows, from += rows * stride, at += rows * ld)
        __pipeline_memcpy_async(at, from, 16);
}
// f(i, t) for the warp's state tiles: i-th of the warp, tile t = warp + kWarps·i of nTiles.
template <class F>
__device__ __forceinline__ void forWarpTiles(int nTiles, F f) {
    const int warp = threadIdx.x >> 5;
#pragma unroll
    for (int i = 0; i < kStTiles; ++i) {
        const int t = warp + kWarps * i;
        if (t >= nTiles) break;
        f(i, t);
    }
}

// t / nb and t % nb for the state's tile indices (t < 64, nb = N/16 <= 16) by a multiply by
// the precomputed 1/nb: N is a runtime value and an integer division costs ~20 instructions.
// Exact: (t + 0.5)/nb is at least 1/(2nb) from an integer.
struct TileDiv {
    int nb;
    float rnb;
    __device__ explicit TileDiv(int n) : nb(n), rnb(rcpApprox(float(n))) {}
    __device__ __forceinline__ int row(int t) const { return int((float(t) + 0.5f) * rnb); }
    __device__ __forceinline__ int col(int t) const { return t - row(t) * nb; }
};

// f(i, hh, e, p, n) for each state element the lane holds: row p, column n of [P, N].
template <class F>
__device__ __forceinline__ void forStateElems(int nTiles, const TileDiv& nb, F f) {
    const int lane = threadIdx.x & 31;
    forWarpTiles(nTiles, [&](int i, int t) {
#pragma unroll
        for (int hh = 0; hh < 2; ++hh)
#pragma unroll
            for (int e = 0; e < 4; ++e)
                f(i, hh, e, nb.row(t) * 16 + (lane >> 2) + 8 * (e >> 1),
                  nb.col(t) * 16 + 8 * hh + 2 * (lane & 3) + (e & 1));
    });
}

// The bf16 copy of the state (row p of [P, N] at sb + p·ld) for Q·Sᵀ, from registers.
__device__ void stateToBf16(StateAcc& st, bf16* sb, int ld, const TileDiv& nb, int nTiles) {
    forStateElems(nTiles, nb, [&](int i, int hh, int e, int p, int n) {
        if (e & 1) return;
        *reinterpret_cast<uint32_t*>(sb + p * ld + n) = packBf16(st[i][hh][e], st[i][hh][e + 1]);
    });
}

// Y = e^{cs_t}·Q·S_inᵀ + M·V for the warp's 16 rows (row block rb) and kYC of the P columns
// from colBase, all in registers: the scores Q·Kᵀ become the bf16 weights M as A operands of
// M·V without leaving the lane (the C and A layouts match, mma16). Y.y[n][2r + u] is row
// rb·16 + g + 8r, column colBase + 8n + 2t + u (lane = 4g + t).
template <int kYC>
struct YTile {
    static constexpr int kT = kYC / 8;  // 16×8 tiles (even)
    float y[kT][4];
};

// The chunk's shared-memory operands, as the lane's ldmatrix byte addresses (smemAddr): its
// row and column pattern within the first 16×16 block of Q and Sb (pattern 1 and 2: A and
// B operands), of K (pattern 2) and of V (pattern 1, read transposed).
struct ChunkView {
    uint32_t qRow, kRow, vCol, sRow;
    const float *cs, *scl, *gam;
    int ldq, ldv, N, cnt, cols;
    float pend;
};

// The rows' part of a chunk's output common to the key parts below.
struct RowsView {
    uint32_t qRow;             // the lane's ldmatrix address of the warp's Q rows
    int row0, i0, i1;          // the block's first row, the lane's rows
    float cl0, cl1, gi0, gi1;  // cl: the rows' cs·log2 e
};

// Y += M·V over key tiles [kJ0, kJ0 + kNJ) (8 keys each, kNJ even): the scores of those
// keys, their weights, the product. Done in two parts so that fewer scores are live at once.
// The part's key pairs (16 keys: tiles 2jp, 2jp + 1) that count are the bits of kLive, or of
// `live` where kLive is 0: a compile-time set lets the products run unguarded (a guard
// around an mma.sync costs a warp sync, a branch and padding each time), and the set is
// warp-uniform anyway. A pair counts unless both its tiles are all padding or in-chunk keys of
// later tokens for all 16 rows; a dead tile of a live pair gets its scores and is masked to 0.
template <int kJ0, int kNJ, int kYC, uint32_t kLive>
__device__ __forceinline__ void keyPart(const ChunkView& v, const RowsView& r, int colBase,
                                        YTile<kYC>& Y, uint32_t live) {
    constexpr int kT = YTile<kYC>::kT, kNP = kNJ / 2;
    const int lane = threadIdx.x & 31, t4 = lane & 3;
    if constexpr (kLive != 0) live = kLive;
    auto on = [&](int jp) { return ((kLive ? kLive : live) >> jp & 1u) != 0; };
    float s[kNJ][4];
#pragma unroll
    for (int j = 0; j < kNJ; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
    {
        // Byte addresses stepped by 32 (16 bf16 of N) a step.
        uint32_t qa = r.qRow, kb = v.kRow + kJ0 * 8 * v.ldq * 2;
        for (int kk = 0; kk < v.N / 16; ++kk, qa += 32, kb += 32) {
            uint32_t a[4];
            ldm4(a, qa);
#pragma unroll
            for (int jp = 0; jp < kNP; ++jp) {
                if (!on(jp)) continue;
                uint32_t b[4];
                ldm4(b, kb + jp * 16 * v.ldq * 2);
                mma(s[2 * jp], a, b[0], b[1]);
                mma(s[2 * jp + 1], a, b[2], b[3]);
            }
        }
    }
    // Decay/trapezoid weights (zero above the diagonal and in the padding): e^{cs_i - cs_j}
    // as 2^{cl_i - cs_j·log2 e} (M is rounded to bf16 anyway); the pending key (column cnt)
    // weighs e^{cs_i}·pend. Dead pairs keep their zero scores. Tiles wholly before the
    // warp's 16 rows, all of them real, need no masks (most tiles of a long document).
    const bool rowsFull = r.row0 + 16 <= v.cnt;
#pragma unroll
    for (int jt = 0; jt < kNJ; ++jt) {
        const int jb = (kJ0 + jt) * 8, j0 = jb + 2 * t4;
        if (!on(jt / 2)) continue;
        if (jb >= v.cols) {  // all padding: the dead half of the pending key's pair
            s[jt][0] = s[jt][1] = s[jt][2] = s[jt][3] = 0.0f;
            continue;
        }
        if (rowsFull && jb + 8 <= r.row0) {
            const float2 c = *reinterpret_cast<const float2*>(v.cs + j0);
            const float2 w = *reinterpret_cast<const float2*>(v.scl + j0);
            const float c0 = c.x * kLog2e, c1 = c.y * kLog2e;
            s[jt][0] *= ex2(r.cl0 - c0) * w.x;
            s[jt][1] *= ex2(r.cl0 - c1) * w.y;
            s[jt][2] *= ex2(r.cl1 - c0) * w.x;
            s[jt][3] *= ex2(r.cl1 - c1) * w.y;
            continue;
        }
#pragma unroll
        for (int u = 0; u < 2; ++u) {
            const int j = j0 + u;
            float cj = 0.0f, sj = 0.0f;
            if (j < v.cnt) {
                cj = v.cs[j] * kLog2e;
                sj = v.scl[j];
            }
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int i = h ? r.i1 : r.i0;
                const float cl = h ? r.cl1 : r.cl0, gi = h ? r.gi1 : r.gi0;
                float& e = s[jt][2 * h + u];
                if (i >= v.cnt || j >= v.cols || (j < v.cnt && j > i))
                    e = 0.0f;
                else
                    e *= j < v.cnt ? (j < i ? ex2(cl - cj) * sj : gi) : ex2(cl) * v.pend;
            }
        }
    }
    const uint32_t vCol = v.vCol + (kJ0 * 8 * v.ldv + colBase) * 2;
#pragma unroll
    for (int kk = 0; kk < kNP; ++kk) {
        if (!on(kk)) continue;
        const uint32_t a[4] = {packBf16(s[2 * kk][0], s[2 * kk][1]),
                               packBf16(s[2 * kk][2], s[2 * kk][3]),
                               packBf16(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                               packBf16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
        for (int np = 0; np < kT / 2; ++np) {
            uint32_t b[4];
            ldm4t(b, vCol + (kk * 16 * v.ldv + np * 16) * 2);
            mma(Y.y[2 * np], a, b[0], b[1]);
            mma(Y.y[2 * np + 1], a, b[2], b[3]);
        }
    }
}

// The warp's live key pairs (bit jp: keys 16jp .. 16jp + 15), warp-uniform: the tiles up to
// its rows' last (2rb + 2 of them) that hold columns, and the tile of the pending key (column
// cnt), which comes after the in-chunk keys. Equal to testing each tile for keys that are
// neither padding nor later tokens of all 16 rows.
__device__ __forceinline__ uint32_t livePairs(int rb, int cnt, int cols) {
    const int preTiles = min(2 * rb + 2, (cols + 7) / 8);
    return ((1u << ((preTiles + 1) / 2)) - 1u) | (1u << (cnt / 16));
}

template <int kYC>
__device__ __forceinline__ void chunkOutput(const ChunkView& v, int rb, int colBase,
                                            YTile<kYC>& Y) {
    constexpr int kT = YTile<kYC>::kT;
    const int lane = threadIdx.x & 31, g = lane >> 2, row0 = rb * 16;
#pragma unroll
    for (int n = 0; n < kT; ++n) Y.y[n][0] = Y.y[n][1] = Y.y[n][2] = Y.y[n][3] = 0.0f;
    if (row0 >= v.cnt) return;  // padding rows only (their Q rows are zero)
    RowsView r;
    r.qRow = v.qRow + row0 * v.ldq * 2;
    // Q·S_inᵀ.
    {
        uint32_t qa = r.qRow, sb = v.sRow + colBase * v.ldq * 2;
        for (int kk = 0; kk < v.N / 16; ++kk, qa += 32, sb += 32) {
            uint32_t a[4];
            ldm4(a, qa);
#pragma unroll
            for (int np = 0; np < kT / 2; ++np) {
                uint32_t b[4];
                ldm4(b, sb + np * 16 * v.ldq * 2);
                mma(Y.y[2 * np], a, b[0], b[1]);
                mma(Y.y[2 * np + 1], a, b[2], b[3]);
            }
        }
    }
    r.row0 = row0;
    r.i0 = row0 + g;
    r.i1 = r.i0 + 8;
    const bool in0 = r.i0 < v.cnt, in1 = r.i1 < v.cnt;
    r.cl0 = in0 ? v.cs[r.i0] * kLog2e : 0.0f;
    r.cl1 = in1 ? v.cs[r.i1] * kLog2e : 0.0f;
    r.gi0 = in0 ? v.gam[r.i0] : 0.0f;
    r.gi1 = in1 ? v.gam[r.i1] : 0.0f;
    const float f0 = in0 ? ex2(r.cl0) : 0.0f, f1 = in1 ? ex2(r.cl1) : 0.0f;
#pragma unroll
    for (int n = 0; n < kT; ++n) {
        Y.y[n][0] *= f0;
        Y.y[n][1] *= f0;
        Y.y[n][2] *= f1;
        Y.y[n][3] *= f1;
    }
    static_assert(kCols == 80, "the key parts below cover 80 keys: pairs 0-2, then 3-4");
    // The sets of a full chunk (row block rb: pairs 0..rb and the pending key's, 4) run
    // unguarded; the rest (a document's last chunk) through the guarded variant.
    const uint32_t live = livePairs(rb, v.cnt, v.cols), lo = live & 7u, hi = live >> 3;
    switch (lo) {
        case 1:
            keyPart<0, 6, kYC, 1>(v, r, colBase, Y, lo);
            break;
        case 3:
            keyPart<0, 6, kYC, 3>(v, r, colBase, Y, lo);
            break;
        case 7:
            keyPart<0, 6, kYC, 7>(v, r, colBase, Y, lo);
            break;
        default:
            if (lo) keyPart<0, 6, kYC, 0>(v, r, colBase, Y, lo);
    }
    switch (hi) {
        case 2:
            keyPart<6, 4, kYC, 2>(v, r, colBase, Y, hi);
            break;
        case 3:
            keyPart<6, 4, kYC, 3>(v, r, colBase, Y, hi);
            break;
        default:
            if (hi) keyPart<6, 4, kYC, 0>(v, r, colBase, Y, hi);
    }
}

// Where the chunk's output rows go from the y registers (rows row0 + i, i < cnt).
struct OutRows {
    int64_t row0;
    int h, cnt, rb, colBase, ldx;
    const float *xs, *zs;  // the staged fp32 x and z rows (null: read device memory)
    const bf16 *xb, *zb;   // kXB: x's rows in V (ldv apart), z's staged bf16 rows (ldx)
    int ldv;
};

__device__ __forceinline__ float2 ldBf16x2(const bf16* p) {
    return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(p));
}

// y += D·x for the lane's elements; returns the sums of squares of its two rows over the
// warp's columns (the gate's norm; rows past cnt are left alone and sum to garbage).
template <int kYC, bool kXB>
__device__ __forceinline__ float2 addSkip(YTile<kYC>& Y, const ScanArgs& a, const OutRows& o) {
    const int lane = threadIdx.x & 31, pl = o.colBase + 2 * (lane & 3);
    const float Dh = __ldg(a.in.D + o.h);
    float ss[2] = {0.0f, 0.0f};
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        const int i = o.rb * 16 + (lane >> 2) + 8 * r;
        if (i >= o.cnt) continue;
        const float* xg = a.in.x + (o.row0 + i) * a.in.xStride + int64_t(o.h) * a.d.P + pl;
#pragma unroll
        for (int n = 0; n < YTile<kYC>::kT; ++n) {
            float2 x;
            if constexpr (kXB)
                x = ldBf16x2(o.xb + i * o.ldv + pl + 8 * n);
            else
                x = o.xs ? *reinterpret_cast<const float2*>(o.xs + i * o.ldx + pl + 8 * n)
                         : make_float2(__ldg(xg + 8 * n), __ldg(xg + 8 * n + 1));
            float &y0 = Y.y[n][2 * r], &y1 = Y.y[n][2 * r + 1];
            y0 += Dh * x.x;
            y1 += Dh * x.y;
            ss[r] += y0 * y0 + y1 * y1;
        }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {  // over the four lanes of a row
        ss[r] += __shfl_xor_sync(0xffffffffu, ss[r], 1);
        ss[r] += __shfl_xor_sync(0xffffffffu, ss[r], 2);
    }
    return make_float2(ss[0], ss[1]);
}

// The lane's elements out: y (fp32), or the gate y·rsqrt(mean_P y² + eps)·w (with the norm
// weight; rowSS the rows' sums over all P) or y alone, times silu(z), in fp32 or bf16.
template <int kYC, bool kXB>
__device__ __forceinline__ void writeOut(const YTile<kYC>& Y, const WalkArgs& w, const OutRows& o,
                                         float2 rowSS) {
    const ScanArgs& a = w.a;
    const detail::KDims& d = a.d;
    const PrefillGate& g = w.gate;
    const bool gated = g.out || w.outB;
    const int lane = threadIdx.x & 31, pl = o.colBase + 2 * (lane & 3);
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        const int i = o.rb * 16 + (lane >> 2) + 8 * r;
        if (i >= o.cnt) continue;
        const int64_t row = o.row0 + i;
        if (!gated) {
            float* yo = a.y + (row * d.H + o.h) * int64_t(d.P) + pl;
#pragma unroll
            for (int n = 0; n < YTile<kYC>::kT; ++n)
                *reinterpret_cast<float2*>(yo + 8 * n) =
                    make_float2(Y.y[n][2 * r], Y.y[n][2 * r + 1]);
            continue;
        }
        const float scale = g.normW ? rsqrtf((r ? rowSS.y : rowSS.x) / float(d.P) + d.eps) : 1.0f;
        const float* zg = g.z + row * g.zStride + int64_t(o.h) * d.P + pl;
        const float* nwp = g.normW ? g.normW + int64_t(o.h) * d.P + pl : nullptr;
        const int64_t at = row * d.dInner + int64_t(o.h) * d.P + pl;
#pragma unroll
        for (int n = 0; n < YTile<kYC>::kT; ++n) {
            float2 z;
            if constexpr (kXB)
                z = ldBf16x2(o.zb + i * o.ldx + pl + 8 * n);
            else
                z = o.zs ? *reinterpret_cast<const float2*>(o.zs + i * o.ldx + pl + 8 * n)
                         : make_float2(__ldg(zg + 8 * n), __ldg(zg + 8 * n + 1));
            const float2 nw = nwp ? make_float2(__ldg(nwp + 8 * n), __ldg(nwp + 8 * n + 1))
                                  : make_float2(1.f, 1.f);
            const float o0 = Y.y[n][2 * r] * scale * nw.x * siluFast(z.x);
            const float o1 = Y.y[n][2 * r + 1] * scale * nw.y * siluFast(z.y);
            if (w.outB)
                *reinterpret_cast<__nv_bfloat162*>(w.outB + at + 8 * n) =
                    __floats2bfloat162_rn(o0, o1);
            else
                *reinterpret_cast<float2*>(g.out + at + 8 * n) = make_float2(o0, o1);
        }
    }
}

// The state entering chunk c, from the warp's registers, to its checkpoint slot where c is a
// checkpoint's first chunk (the training forward: walkKernel's kCkpt).
__device__ __forceinline__ void storeCheckpoint(const StateAcc& st, const WalkArgs& w, int64_t b,
                                                int h, int c, int P, const TileDiv& nb,
                                                int nTiles) {
    const int stride = w.ckptStride, k = c / stride;
    if (k * stride != c) return;
    const int64_t nChk = (w.a.nC + stride - 1) / stride, N = w.a.d.N;
    float* to = w.ckpt + ((b * nChk + k) * w.a.d.H + h) * int64_t(P) * N;
    forStateElems(nTiles, nb, [&](int i, int hh, int e, int p, int n) {
        if (e & 1) return;
        *reinterpret_cast<float2*>(to + p * N + n) = make_float2(st[i][hh][e], st[i][hh][e + 1]);
    });
}

// kFull: the walk (y, state); else the state walk of segments 0..S-2 in F pieces each. kP:
// the head dimension (the register tiles of y are sized by it). The state walk holds little
// besides its state, so three of its blocks fit a multiprocessor. kCkpt (with kFull): also
// the training's checkpoints (WalkArgs::ckpt), a separate instance so that the prefill's
// code, at its register cap, is untouched. kXB: x and z from bf16 rows (WalkArgs::xb, zb).
template <bool kFull, int kP, bool kCkpt = false, bool kXB = false>
__global__ void __launch_bounds__(kThreads, kFull ? 2 : 3) walkKernel(WalkArgs w) {
    extern __shared__ __align__(128) unsigned char sm[];
    // As a programmatic dependent: everything below reads what earlier kernels wrote (q/k,
    // the rows, the state walk's ends, the document's state). No-ops on a plain launch.
    detail::pdlWait();
    detail::pdlLaunchDependents();
    const ScanArgs& a = w.a;
    const detail::KDims& d = a.d;
    constexpr int P = kP;
    const int h = blockIdx.x, seg = blockIdx.y, N = d.N;
    const int64_t b = blockIdx.z, bh = b * d.H + h, PN = int64_t(P) * N;
    const LayoutW L = layoutW(N, P, kFull, kXB);
    bf16* Qb = reinterpret_cast<bf16*>(sm + L.q);
    bf16* Kb = reinterpret_cast<bf16*>(sm + L.k);
    bf16* Vb = reinterpret_cast<bf16*>(sm + L.v);
    bf16* Sb = reinterpret_cast<bf16*>(sm + L.sb);
    float* xs = reinterpret_cast<float*>(sm + L.xs);
    float* zs = reinterpret_cast<float*>(sm + L.zs);
    float* ssBuf = reinterpret_cast<float*>(sm + L.ss);  // [2 column halves][kRows]
    const ScalarArrays sa(reinterpret_cast<float*>(sm + L.scal));
    float *cs = sa.cs, *dtS = sa.dtS, *trS = sa.trS, *scl = sa.scl, *gam = sa.gam, *wG = sa.wG;
    __shared__ double tot[2];
    const int nTiles = (P / 16) * (N / 16), warp = threadIdx.x >> 5;
    const TileDiv nb(N / 16);
    const int lane = threadIdx.x & 31;
    int c0 = 0, c1 = 0;  // the chunks: the walk's segment, or the state walk's piece
    if constexpr (kFull) {
        c0 = seg * w.segChunks;
        c1 = min(a.nC, c0 + w.segChunks);
    } else {
        const int s0 = (seg / w.F) * w.segChunks;
        c0 = s0 + (seg % w.F) * w.fineChunks;
        c1 = min(min(a.nC, s0 + w.segChunks), c0 + w.fineChunks);
    }
    // y: warp → row block warp % 4 and half the P columns (all 16 at P = 16, where the
    // second warp of a row block stores nothing).
    constexpr int kYC = P >= 32 ? P / 2 : 16, kHalves = P >= 32 ? 2 : 1;
    const int rb = warp & 3, colBase = P >= 32 ? (warp >> 2) * (P / 2) : 0;
    const bool storeY = P >= 32 || warp < 4;
    // Entry state: the document's for the first segment (piece); else zero (state walk) or
    // combined, In_s = Σ_{u < s·F} (Π_{u<v<s·F} decay_v)·end_u.
    StateAcc st;
    if (seg == 0) {
        const float* g0 = a.st.ssm + bh * PN;
        forStateElems(nTiles, nb,
                      [&](int i, int hh, int e, int p, int n) { st[i][hh][e] = g0[p * N + n]; });
    } else {
        forStateElems(nTiles, nb, [&](int i, int hh, int e, int, int) { st[i][hh][e] = 0.0f; });
        if constexpr (kFull) {
            const int64_t e0 = bh * int64_t(w.S - 1) * w.F;
            for (int u = 0; u < seg * w.F; ++u) {
                const float* gt = w.segEnd + (e0 + u) * PN;
                const float dec = u > 0 ? w.segDecay[e0 + u] : 0.0f;
                forStateElems(nTiles, nb, [&](int i, int hh, int e, int p, int n) {
                    st[i][hh][e] = dec * st[i][hh][e] + gt[p * N + n];
                });
            }
        }
    }
    if constexpr (kFull) stateToBf16(st, Sb, L.ldq, nb, nTiles);
    const bool xVec =
        !kXB && reinterpret_cast<uintptr_t>(a.in.x) % 16 == 0 && a.in.xStride % 4 == 0;
    const bool stVec =
        (reinterpret_cast<uintptr_t>(a.st.k) | reinterpret_cast<uintptr_t>(a.st.v)) % 16 == 0;
    const PrefillGate& gate = w.gate;
    const bool zStaged =
        kFull && (gate.out || w.outB) &&
        (kXB || (reinterpret_cast<uintptr_t>(gate.z) % 16 == 0 && gate.zStride % 4 == 0));
    const int n4 = N / 4, p4 = P / 4;
    float decaySum = 0.0f;
    for (int c = c0; c < c1; ++c) {
        const int64_t t0 = int64_t(c) * a.Ck, row0 = b * a.T + t0, prevRow = row0 - 1;
        const int cnt = chunkCount(a, t0), cols = cnt + 1;
        const ChunkScalars sc = loadChunkScalars(a, b, h, t0, cnt, true);
        if constexpr (kCkpt) storeCheckpoint(st, w, b, h, c, P, nb, nTiles);
        __syncthreads();  // the previous chunk is done with Q, K, V, xs, zs, ssBuf
        const RowPieces rp(N);
        // Row j of the chunk at the chunk's first row plus j rows; K's pending row is row -1.
        const int qkRow = d.H * N;
        const int64_t qk0 = (row0 * d.H + h) * int64_t(N);
        if constexpr (kFull) rp.copy(cnt, cnt, kRows, Qb, L.ldq, a.qb + qk0, qkRow, -1);
        // K: for the document's first chunk its pending row (cnt) comes from the state below.
        rp.copy(c > 0 ? cols : cnt, cols, kCols, Kb, L.ldq, a.kb + qk0, qkRow, cnt);
        if constexpr (kXB) {
            // x's bf16 rows straight into V with the pending row (the token before the chunk)
            // and the padding zeroed, z's into zs, by asynchronous copies. The document's
            // first chunk: its pending k and v come from the state (fp32) through registers.
            RowPieces::of<P / 8>().copy(c > 0 ? cols : cnt, cols, kCols, Vb, L.ldv,
                                        w.xb + row0 * a.in.xStride + h * P, int(a.in.xStride), cnt);
            if (zStaged)
                stageBf16RowsAsync<P>(cnt, reinterpret_cast<bf16*>(zs), L.ldx,
                                      w.zb + row0 * gate.zStride + h * P, gate.zStride);
            __pipeline_commit();
            if (c == 0)
                gatherBf16<1>(n4 + p4, Kb, [&](int i, float4& v) -> int {
                    if (i < n4) {
                        v = ld4(a.st.k + bh * int64_t(N) + 4 * i, stVec);
                        return cnt * L.ldq + 4 * i;
                    }
                    const int p = 4 * (i - n4);
                    v = ld4(a.st.v + bh * P + p, stVec);
                    return int(Vb - Kb) + cnt * L.ldv + p;
                });
        } else {
            // x rows, where 16-byte aligned, by asynchronous copies (fp32) into xs: rounded to
            // bf16 for V after the wait and read again by the epilogue, so x leaves device
            // memory once; z rows likewise for the gate. The rest through registers: the
            // pending row (the token before the chunk, or the state's v for the document's
            // first chunk), for that chunk the state's fp32 k, and all x rows where unaligned.
            if (xVec)
                stageRowsAsync(cnt, P, xs, L.ldx, a.in.x + row0 * a.in.xStride + h * P,
                               a.in.xStride);
            if (zStaged)
                stageRowsAsync(cnt, P, zs, L.ldx, gate.z + row0 * gate.zStride + h * P,
                               gate.zStride);
            __pipeline_commit();
            const int nPend = c > 0 ? 0 : n4, xFrom = xVec ? cnt : 0;
            // (one group a thread at a time: with x staged, one a thread is all there is.)
            gatherBf16<1>(nPend + (kCols - xFrom) * p4, Kb, [&](int i, float4& v) -> int {
                v = make_float4(0.f, 0.f, 0.f, 0.f);
                if (i < nPend) {
                    v = ld4(a.st.k + bh * int64_t(N) + 4 * i, stVec);
                    return cnt * L.ldq + 4 * i;
                }
                i -= nPend;
                const int j = xFrom + i / p4, p = 4 * (i % p4);
                if (j < cnt)
                    v = ld4(a.in.x + (row0 + j) * a.in.xStride + int64_t(h) * P + p, xVec);
                else if (j == cnt)
                    v = c == 0 ? ld4(a.st.v + bh * P + p, stVec)
                               : ld4(a.in.x + prevRow * a.in.xStride + int64_t(h) * P + p, xVec);
                return int(Vb - Kb) + j * L.ldv + p;
            });
        }
        __pipeline_wait_prior(0);
        scalarsToShared(sc, cnt, true, cs, dtS, trS, gam, scl, tot);
        if (xVec) {  // the staged x rows to bf16 (the barrier above made them visible)
            for (int i = threadIdx.x; i < cnt * p4; i += kThreads) {
                const int j = i / p4, p = 4 * (i % p4);
                storeBf16x4(Vb + j * L.ldv + p,
                            *reinterpret_cast<const float4*>(xs + j * L.ldx + p));
            }
            __syncthreads();
        }
        const float pend = (1.0f - trS[0]) * dtS[0], csLast = cs[cnt - 1];
        decaySum += csLast;
        YTile<kYC> Y;
        float2 rowSS = make_float2(0.0f, 0.0f);
        const OutRows o{row0,
                        h,
                        cnt,
                        rb,
                        colBase,
                        L.ldx,
                        xVec ? xs : nullptr,
                        zStaged ? zs : nullptr,
                        Vb,
                        reinterpret_cast<const bf16*>(zs),
                        L.ldv};
        if constexpr (kFull) {
            chunkOutput<kYC>(ChunkView{smemAddr(Qb + rowPat1(lane) * L.ldq + colPat1(lane)),
                                       smemAddr(Kb + rowPat2(lane) * L.ldq + colPat2(lane)),
                                       smemAddr(Vb + rowPat1(lane) * L.ldv + colPat1(lane)),
                                       smemAddr(Sb + rowPat2(lane) * L.ldq + colPat2(lane)), cs,
                                       scl, gam, L.ldq, L.ldv, N, cnt, cols, pend},
                             rb, colBase, Y);
            if (storeY) {
                rowSS = addSkip<kYC, kXB>(Y, a, o);
                if (kHalves == 2 && (lane & 3) == 0) {  // this half's row sums for the other
                    float* to = ssBuf + (warp >> 2) * kRows + rb * 16 + (lane >> 2);
                    to[0] = rowSS.x;
                    to[8] = rowSS.y;
                }
            }
        }
        for (int j = threadIdx.x; j < kCols; j += kThreads)
            wG[j] = j < cnt ? expf(csLast - cs[j]) * scl[j] : j == cnt ? expf(csLast) * pend : 0.0f;
        __syncthreads();
        if constexpr (kFull) {
            if (storeY) {
                if (kHalves == 2) {
                    const float* from = ssBuf + (1 - (warp >> 2)) * kRows + rb * 16 + (lane >> 2);
                    rowSS.x += from[0];
                    rowSS.y += from[8];
                }
                writeOut<kYC, kXB>(Y, w, o, rowSS);
            }
        }
        // V rows scaled by their state weights (V is not needed unscaled any more), 8 a thread.
        for (int e = threadIdx.x; e < kCols * (P / 8); e += kThreads) {
            const int j = e / (P / 8), p = 8 * (e % (P / 8));
            uint4* at = reinterpret_cast<uint4*>(Vb + j * L.ldv + p);
            uint4 u = *at;
            __nv_bfloat162* h2 = reinterpret_cast<__nv_bfloat162*>(&u);
            const float wj = wG[j];
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                const float2 x = __bfloat1622float2(h2[q]);
                h2[q] = __floats2bfloat162_rn(x.x * wj, x.y * wj);
            }
            *at = u;
        }
        __syncthreads();
        // S <- e^{cs_last}·S + (w ∘ V)ᵀ·K on the warp's own tiles: A = (w ∘ V)ᵀ read
        // transposed, B = K; key blocks past the chunk's columns are zero and skipped.
        const float dec = expf(csLast);
        forStateElems(nTiles, nb, [&](int i, int hh, int e, int, int) { st[i][hh][e] *= dec; });
        for (int kk = 0; kk < kCols / 16 && kk * 16 < cols; ++kk) {
            forWarpTiles(nTiles, [&](int i, int t) {
                uint32_t fa[4], fb[4];
                ldm4t(fa, Vb + (kk * 16 + rowPat2(lane)) * L.ldv + nb.row(t) * 16 + colPat2(lane));
                ldm4t(fb, Kb + (kk * 16 + rowPat1(lane)) * L.ldq + nb.col(t) * 16 + colPat1(lane));
                mma(st[i][0], fa, fb[0], fb[1]);
                mma(st[i][1], fa, fb[2], fb[3]);
            });
        }
        if constexpr (kFull) {
            if (c + 1 < c1) stateToBf16(st, Sb, L.ldq, nb, nTiles);
        }
    }
    float* out = nullptr;
    if constexpr (kFull) {
        if (seg == w.S - 1) out = kXB && w.stateInWalk ? a.st.ssm + bh * PN : w.fin + bh * PN;
    } else {
        const int64_t e = bh * int64_t(w.S - 1) * w.F + seg;
        out = w.segEnd + e * PN;
        if (threadIdx.x == 0) w.segDecay[e] = expf(decaySum);
    }
    if (out)
        forStateElems(nTiles, nb,
                      [&](int i, int hh, int e, int p, int n) { out[p * N + n] = st[i][hh][e]; });
}

// The final states and the last token's k (fp32, in.k) and x become the documents' state.
__global__ void finishKernel(WalkArgs w) {
    detail::pdlWait();  // the walk's final states (no-op on a plain launch)
    const ScanArgs& a = w.a;
    const detail::KDims& d = a.d;
    const int h = blockIdx.x, N = d.N, P = d.P;
    const int64_t b = blockIdx.y, bh = b * d.H + h, PN = int64_t(P) * N, last = b * a.T + a.T - 1;
    if (!w.stateInWalk)
        for (int64_t e = threadIdx.x; e < PN; e += blockDim.x)
            a.st.ssm[bh * PN + e] = w.fin[bh * PN + e];
    for (int n = threadIdx.x; n < N; n += blockDim.x)
        a.st.k[bh * N + n] = a.in.k[(last * d.H + h) * int64_t(N) + n];
    for (int p = threadIdx.x; p < P; p += blockDim.x)
        a.st.v[bh * P + p] = w.xb ? __bfloat162float(w.xb[last * a.in.xStride + int64_t(h) * P + p])
                                  : a.in.x[last * a.in.xStride + int64_t(h) * P + p];
}

bool walkFits(const detail::KDims& d) {
    const int P = d.P;
    return d.R == 1 && !d.mimo && d.N % 16 == 0 && d.N <= 256 &&
           (P == 16 || P == 32 || P == 64 || P == 128) &&
           (P / 16) * (d.N / 16) <= kStTiles * kWarps &&
           layoutW(d.N, P, true).total <= size_t(maxSharedOptin());
}

// The multiprocessors' resident blocks of walkKernel<kFull, kP, kCkpt> (the device's slots).
// Asked after launchWalks raised that instance's shared memory limit: the training process
// once asked it of the prefill's instance, never raised there, and got 132 slots on the H100
// (1 an SM, so 1 segment a document) where the prefill's process gets 264.
template <bool kFull, int kP, bool kCkpt = false, bool kXB = false>
int residentSlots(size_t bytes) {
    static const int slots = [bytes] {
        int dev = 0, sms = 0, per = 0;
        cudaGetDevice(&dev);
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per, walkKernel<kFull, kP, kCkpt, kXB>,
                                                      kThreads, bytes);
        return std::max(1, sms * std::max(per, 1));
    }();
    return slots;
}

// How many programs of walkKernel<kFull, kP> fill the device once per one of `programs`, at
// least 1: the walk's segments a document, or the state walk's pieces a segment.
template <bool kFull, int kP, bool kXB = false>
int fillFactor(int64_t programs, size_t bytes) {
    return int(std::max<int64_t>(
        1, residentSlots<kFull, kP, false, kXB>(bytes) / std::max<int64_t>(programs, 1)));
}

int envInt(const char* name) {
    const char* e = std::getenv(name);
    return e ? std::atoi(e) : 0;
}

// The kXB walks as programmatic dependents: on sm_90 and later unless LECTERN_PREFILL_PDL=0.
bool prefillPdl() {
    static const bool on = [] {
        int dev = 0, major = 0;
        if (cudaGetDevice(&dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess)
            return false;
        const char* e = std::getenv("LECTERN_PREFILL_PDL");
        return major >= 9 && !(e && e[0] == '0' && e[1] == 0);
    }();
    return on;
}

// The walk's segments a document when the caller names none. The training forward's walk
// (kCkpt) runs `waves` programs a resident slot, rounded: in the ~125M step (96 programs,
// 264 slots) 8 segments walked fastest, 1 slowest (H100 sweep: training/NOTES-cuda.md,
// helper F2). LECTERN_TRAIN_WALK_WAVES overrides its waves. LECTERN_PREFILL_WALK_WAVES
// applies the same rule to the prefill's walk (A/B; unset: fill once, which was faster).
constexpr double kTrainWalkWaves = 3;

double envReal(const char* name, double fallback) {
    const char* e = std::getenv(name);
    return e && std::atof(e) > 0 ? std::atof(e) : fallback;
}

template <bool kCkpt, int kP, bool kXB = false>
int autoSegments(int64_t programs, size_t bytes) {
    static const double waves = kCkpt ? envReal("LECTERN_TRAIN_WALK_WAVES", kTrainWalkWaves)
                                      : envReal("LECTERN_PREFILL_WALK_WAVES", 0);
    if (waves <= 0) return fillFactor<true, kP, kXB>(programs, bytes);
    const double slots = residentSlots<true, kP, kCkpt, kXB>(bytes);
    return int(
        std::max<long>(1, std::lround(waves * slots / double(std::max<int64_t>(programs, 1)))));
}

// The state walk (S > 1), the walk (kCkpt: with the checkpoints) and the final copy for head
// dimension kP (kXB: x and z from bf16 rows); w's segment fields and workspace pointers are
// set here.
template <int kP, bool kCkpt, bool kXB = false>
cudaError_t launchWalks(WalkArgs w, int64_t batch, int segments, float* states, int64_t floats,
                        cudaStream_t s) {
    const detail::KDims& d = w.a.d;
    const size_t bytes = layoutW(d.N, kP, true, kXB).total,
                 stBytes = layoutW(d.N, kP, false, kXB).total;
    cudaFuncSetAttribute(walkKernel<true, kP, kCkpt, kXB>,
                         cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
    cudaFuncSetAttribute(walkKernel<false, kP, false, kXB>,
                         cudaFuncAttributeMaxDynamicSharedMemorySize, int(stBytes));
    // LECTERN_PREFILL_SEGMENTS / LECTERN_PREFILL_STATE_SPLIT: fixed segment and piece counts
    // (A/B measurement; 1 piece is the state walk of one program a segment).
    static const int envSegments = envInt("LECTERN_PREFILL_SEGMENTS");
    static const int envSplit = envInt("LECTERN_PREFILL_STATE_SPLIT");
    const int64_t BH = batch * d.H, PN = int64_t(kP) * d.N;
    int S = segments > 0      ? segments
            : envSegments > 0 ? envSegments
                              : autoSegments<kCkpt, kP, kXB>(BH, bytes);
    S = int(std::min<int64_t>(S, w.a.nC));
    w.segChunks = (w.a.nC + S - 1) / S;
    w.S = (w.a.nC + w.segChunks - 1) / w.segChunks;  // no empty segment
    // The state walk's pieces: its S - 1 segments alone leave most multiprocessors idle at
    // batch 1. Every piece of a (full) segment is non-empty: (F - 1)·fineChunks < segChunks.
    int F = 1;
    if (w.S > 1) F = envSplit > 0 ? envSplit : fillFactor<false, kP, kXB>((w.S - 1) * BH, stBytes);
    F = std::min(F, w.segChunks);
    w.fineChunks = (w.segChunks + F - 1) / F;
    w.F = (w.segChunks + w.fineChunks - 1) / w.fineChunks;
    const int64_t pieces = int64_t(w.S - 1) * w.F;
    static const bool logSegments = envInt("LECTERN_PREFILL_SEGMENTS_LOG") > 0;  // A/B: the counts
    if (logSegments)
        std::fprintf(stderr, "prefill walk: ckpt %d programs %lld slots %d segments %d pieces %d\n",
                     int(kCkpt), static_cast<long long>(BH),
                     residentSlots<true, kP, kCkpt, kXB>(bytes), w.S, w.F);
    w.segEnd = states;
    w.segDecay = w.segEnd + BH * pieces * PN;
    w.fin = w.segDecay + BH * pieces;
    if (floats < BH * pieces * (PN + 1) + BH * PN) return cudaErrorInvalidValue;
    // The prefill's kXB walks as programmatic dependents (the training's keep plain launches).
    const bool pdl = kXB && !kCkpt && prefillPdl();
    // One segment (kXB): the walk writes the ssm state, not fin, and finish copies k and v
    // only (LECTERN_PREFILL_STATE_IN_WALK=0: through fin, A/B).
    static const bool stateInWalkOn = [] {
        const char* e = std::getenv("LECTERN_PREFILL_STATE_IN_WALK");
        return !(e && e[0] == '0' && e[1] == 0);
    }();
    w.stateInWalk = kXB && !kCkpt && w.S == 1 && stateInWalkOn;
    cudaError_t e = cudaSuccess;
    if (pieces > 0)
        e = detail::launchMaybePdl(pdl, walkKernel<false, kP, false, kXB>,
                                   dim3(unsigned(d.H), unsigned(pieces), unsigned(batch)),
                                   dim3(kThreads), stBytes, s, w);
    if (e == cudaSuccess)
        e = detail::launchMaybePdl(pdl, walkKernel<true, kP, kCkpt, kXB>,
                                   dim3(unsigned(d.H), unsigned(w.S), unsigned(batch)),
                                   dim3(kThreads), bytes, s, w);
    if (e == cudaSuccess)
        e = detail::launchMaybePdl(pdl, finishKernel, dim3(unsigned(d.H), unsigned(batch)),
                                   dim3(kThreads), 0, s, w);
    return e != cudaSuccess ? e : cudaGetLastError();
}

// The training forward's walks (kCkpt), for the head dimensions a model uses.
cudaError_t launchCkpt(const WalkArgs& w, int64_t batch, int segments, const ScanWorkspace& ws,
                       cudaStream_t s) {
    switch (w.a.d.P) {
        case 16:
            return launchWalks<16, true>(w, batch, segments, ws.chunkStates, ws.floats, s);
        case 32:
            return launchWalks<32, true>(w, batch, segments, ws.chunkStates, ws.floats, s);
        case 64:
            return launchWalks<64, true>(w, batch, segments, ws.chunkStates, ws.floats, s);
        default:
            return launchWalks<128, true>(w, batch, segments, ws.chunkStates, ws.floats, s);
    }
}

// The walk for x and z from bf16 rows (kXB) for head dimension d.P.
cudaError_t launchXB(const WalkArgs& w, int64_t batch, int segments, const ScanWorkspace& ws,
                     cudaStream_t s) {
    switch (w.a.d.P) {
        case 16:
            return launchWalks<16, false, true>(w, batch, segments, ws.chunkStates, ws.floats, s);
        case 32:
            return launchWalks<32, false, true>(w, batch, segments, ws.chunkStates, ws.floats, s);
        case 64:
            return launchWalks<64, false, true>(w, batch, segments, ws.chunkStates, ws.floats, s);
        default:
            return launchWalks<128, false, true>(w, batch, segments, ws.chunkStates, ws.floats, s);
    }
}

// projB: x and z from bf16 in_proj rows of ld elements (gate and outB then required; in.x and
// gate->z are not read).
cudaError_t walkForward(const ops::Mamba3Dims& dims, const ops::SsmScanInputs& in, int64_t batch,
                        int64_t T, float* y, const ops::SsmStateRef& st, const ScanWorkspace& ws,
                        cudaStream_t s, const PrefillGate* gate, bf16* outB, int segments,
                        float* ckpt = nullptr, int ckptStride = 0, const bf16* projB = nullptr,
                        int64_t ld = 0) {
    if (batch <= 0 || T <= 0) return cudaSuccess;
    const detail::KDims d = detail::kdims(dims);
    auto a16 = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
    const bool gated = gate && (gate->out || outB);
    const void* out = !gated ? static_cast<const void*>(y)
                      : outB ? static_cast<const void*>(outB)
                             : static_cast<const void*>(gate->out);
    if (!walkFits(d) || !ws.qkBf16 || !a16(ws.qkBf16) || in.mimoX || !in.k ||
        (gated && !projB && !gate->z) || !out || !a16(out) ||
        (ckpt && (gated || ckptStride < 1 || !a16(ckpt))) ||
        (projB && (!outB || ckpt || !a16(projB) || ld % 8 != 0 || ld < dims.dInProj())))
        return cudaErrorInvalidValue;
    WalkArgs w{};
    w.a.d = d;
    w.a.in = in;
    w.a.st = st;
    w.a.y = y;
    w.a.T = T;
    w.a.Ck = tc::kRows;  // SISO: 64 tokens a chunk (ssm_chunk_tokens)
    w.a.nC = int((T + w.a.Ck - 1) / w.a.Ck);
    w.a.qb = static_cast<const bf16*>(ws.qkBf16);
    w.a.kb = w.a.qb + batch * T * dims.H * dims.N;
    if (gated) {
        w.gate = *gate;
        w.outB = outB;
    }
    w.ckpt = ckpt;
    w.ckptStride = ckptStride;
    if (ckpt) return launchCkpt(w, batch, segments, ws, s);
    if (projB) {
        w.a.in.x = nullptr;
        w.a.in.xStride = ld;
        w.gate.z = nullptr;
        w.gate.zStride = ld;
        w.xb = projB + dims.offX();
        w.zb = projB + dims.offZ();
        return launchXB(w, batch, segments, ws, s);
    }
    switch (d.P) {
        case 16:
            return launchWalks<16, false>(w, batch, segments, ws.chunkStates, ws.floats, s);
        case 32:
            return launchWalks<32, false>(w, batch, segments, ws.chunkStates, ws.floats, s);
        case 64:
            return launchWalks<64, false>(w, batch, segments, ws.chunkStates, ws.floats, s);
        default:
            return launchWalks<128, false>(w, batch, segments, ws.chunkStates, ws.floats, s);
    }
}

}  // namespace
}  // namespace lectern::cuda::scan

namespace lectern::cuda {

bool ssm_prefill_scan_fits(const ops::Mamba3Dims& d) {
    return scan::walkFits(detail::kdims(d));
}

cudaError_t ssm_prefill_scan_forward(const ops::Mamba3Dims& dims, const ops::SsmScanInputs& in,
                                     int64_t batch, int64_t T, float* y, const ops::SsmStateRef& st,
                                     const ScanWorkspace& ws, cudaStream_t s,
                                     const PrefillGate* gate, int segments) {
    return scan::walkForward(dims, in, batch, T, y, st, ws, s, gate, nullptr, segments);
}

cudaError_t ssm_prefill_scan_forward_bf16_gate(const ops::Mamba3Dims& dims,
                                               const ops::SsmScanInputs& in, int64_t batch,
                                               int64_t T, const ops::SsmStateRef& st,
                                               const ScanWorkspace& ws, cudaStream_t s,
                                               const PrefillGate& gate, void* outBf16,
                                               int segments) {
    if (!outBf16) return cudaErrorInvalidValue;
    return scan::walkForward(dims, in, batch, T, nullptr, st, ws, s, &gate,
                             static_cast<scan::bf16*>(outBf16), segments);
}

cudaError_t ssm_prefill_scan_forward_bf16_proj(const ops::Mamba3Dims& dims,
                                               const ops::SsmScanInputs& in, const void* projBf16,
                                               int64_t ld, int64_t batch, int64_t T,
                                               const ops::SsmStateRef& st, const ScanWorkspace& ws,
                                               cudaStream_t s, const float* normW, void* outBf16,
                                               int segments) {
    if (!outBf16 || !projBf16) return cudaErrorInvalidValue;
    const PrefillGate gate{nullptr, ld, normW, nullptr};
    return scan::walkForward(dims, in, batch, T, nullptr, st, ws, s, &gate,
                             static_cast<scan::bf16*>(outBf16), segments, nullptr, 0,
                             static_cast<const scan::bf16*>(projBf16), ld);
}

cudaError_t ssm_prefill_scan_forward_checkpoints(const ops::Mamba3Dims& dims,
                                                 const ops::SsmScanInputs& in, int64_t batch,
                                                 int64_t T, float* y, const ops::SsmStateRef& st,
                                                 const ScanWorkspace& ws, cudaStream_t s,
                                                 float* ckpt, int ckptStride, int segments) {
    if (!ckpt || !y) return cudaErrorInvalidValue;
    return scan::walkForward(dims, in, batch, T, y, st, ws, s, nullptr, nullptr, segments, ckpt,
                             ckptStride);
}

}  // namespace lectern::cuda
