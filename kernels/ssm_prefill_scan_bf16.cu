// Whole-document prefill scan for SISO on the tensor cores (issue 4): the official Mamba-3
// structure, where a program walks its chunks in order with the state on chip, so q, k, x
// are read once and y (or the gated output) written once, instead of the three passes of
// ssm_chunk_scan_bf16.cu (chunk states through device memory). Same maths as those
// phases (bf16 operands, fp32 scores, weights, state and accumulation).
//
// One walk fills too few multiprocessors at batch 1 (64 heads: 64 programs), so each
// document's chunks are split into S segments:
//  1. stateWalk (segments 0..S-2): each walks its chunks for the state only (k, v, no
//     scores), from the incoming state (segment 0) or from zero, and leaves its end
//     state and its decay e^{Σ adt};
//  2. walk (all S segments): the entry state of segment s > 0 is combined from those
//     (In_1 = end_0, In_{s+1} = decay_s·In_s + end_s); then per chunk:
//       Y = e^{cs_t}·Q·S_inᵀ + M·V (+ D·x), M the masked decay/trapezoid weights of Q·Kᵀ
//       (with the pending k, v of the token before the chunk as one more key column),
//       S <- e^{cs_last}·S + (w ∘ V)ᵀ·K,
//     the state held in wmma accumulators (four 16×16 tiles a warp), its bf16 copy in
//     shared memory for the next chunk's Q·Sᵀ. Optionally the gate's epilogue (RMSNorm
//     over P, weight, y·silu(z)) on y while it is in shared memory.
//  3. finish: the final state and the last token's k, x become the document's state
//     (written last: the walks read the incoming ones).
#include <algorithm>
#include <cstdlib>

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
    float* segEnd;    // [B, H, S-1, P·N]
    float* segDecay;  // [B, H, S-1]
    float* fin;       // [B, H, P·N] the final states until finish copies them
    int S, segChunks;
};

struct LayoutW {
    int ldq, ldv, ldy;
    size_t q, k, v, sb, yf, scal, total;
};

// Scores and weights stay in registers: ~85 KB at N = 128, P = 64, two blocks a
// multiprocessor.
__host__ __device__ inline LayoutW layoutW(int N, int P) {
    LayoutW l{};
    l.ldq = N + 8;
    l.ldv = P + 8;
    l.ldy = P + 4;
    l.q = 0;
    l.k = l.q + size_t(kRows) * l.ldq * 2;
    l.v = l.k + size_t(kCols) * l.ldq * 2;
    l.sb = l.v + size_t(kCols) * l.ldv * 2;
    l.yf = l.sb + size_t(P) * l.ldq * 2;
    l.scal = l.yf + size_t(kRows) * l.ldy * 4;
    l.total = l.scal + size_t(5 * kRows + kCols) * 4;
    return l;
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

// f(i, hh, e, p, n) for each state element the lane holds: row p, column n of [P, N].
template <class F>
__device__ __forceinline__ void forStateElems(int nTiles, int nb, F f) {
    const int lane = threadIdx.x & 31;
    forWarpTiles(nTiles, [&](int i, int t) {
#pragma unroll
        for (int hh = 0; hh < 2; ++hh)
#pragma unroll
            for (int e = 0; e < 4; ++e)
                f(i, hh, e, (t / nb) * 16 + (lane >> 2) + 8 * (e >> 1),
                  (t % nb) * 16 + 8 * hh + 2 * (lane & 3) + (e & 1));
    });
}

// The bf16 copy of the state (row p of [P, N] at sb + p·ld) for Q·Sᵀ, from registers.
__device__ void stateToBf16(StateAcc& st, bf16* sb, int ld, int N, int nTiles) {
    forStateElems(nTiles, N / 16, [&](int i, int hh, int e, int p, int n) {
        if (e & 1) return;
        *reinterpret_cast<uint32_t*>(sb + p * ld + n) = packBf16(st[i][hh][e], st[i][hh][e + 1]);
    });
}

// y (or the gated output) for the chunk's rows from Yf + D·x (x re-read in fp32), four
// columns a thread and four groups in flight; the P/4 threads of a row are adjacent lanes
// of one warp, so the gate's norm over P is a shuffle reduction.
__device__ void writeRows(const WalkArgs& w, int h, int64_t row0, int cnt, const float* Yf, int ldy,
                          bool xVec) {
    const ScanArgs& a = w.a;
    const detail::KDims& d = a.d;
    const PrefillGate& g = w.gate;
    const int P = d.P, p4 = P / 4, total = kRows * p4;  // a multiple of kThreads
    const float Dh = a.in.D[h];
    const bool zVec = reinterpret_cast<uintptr_t>(g.z) % 16 == 0 && g.zStride % 4 == 0;
    const bool nVec = reinterpret_cast<uintptr_t>(g.normW) % 16 == 0;
    for (int e0 = threadIdx.x; e0 < total; e0 += 4 * kThreads) {
        float4 xv[4], zv[4];
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            const int e = e0 + u * kThreads, i = e / p4, p = 4 * (e % p4);
            xv[u] = zv[u] = make_float4(0.f, 0.f, 0.f, 0.f);
            if (e >= total || i >= cnt) continue;
            xv[u] = ld4(a.in.x + (row0 + i) * a.in.xStride + int64_t(h) * P + p, xVec);
            if (g.out) zv[u] = ld4(g.z + (row0 + i) * g.zStride + int64_t(h) * P + p, zVec);
        }
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            const int e = e0 + u * kThreads, i = e / p4, p = 4 * (e % p4);
            if (e >= total) break;  // the same for the whole warp
            const bool live = i < cnt;
            const int64_t row = row0 + i;
            const float* m = Yf + i * ldy + p;
            const float4 v = make_float4(m[0] + Dh * xv[u].x, m[1] + Dh * xv[u].y,
                                         m[2] + Dh * xv[u].z, m[3] + Dh * xv[u].w);
            if (!g.out) {
                if (live) *reinterpret_cast<float4*>(a.y + (row * d.H + h) * int64_t(P) + p) = v;
                continue;
            }
            float ss = live ? v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w : 0.0f;
            for (int o = p4 / 2; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
            if (!live) continue;
            float scale = 1.0f;
            float4 nw = make_float4(1.f, 1.f, 1.f, 1.f);
            if (g.normW) {
                scale = rsqrtf(ss / float(P) + d.eps);
                nw = ld4(g.normW + int64_t(h) * P + p, nVec);
            }
            *reinterpret_cast<float4*>(g.out + row * d.dInner + int64_t(h) * P + p) =
                make_float4(v.x * scale * nw.x * detail::siluf(zv[u].x),
                            v.y * scale * nw.y * detail::siluf(zv[u].y),
                            v.z * scale * nw.z * detail::siluf(zv[u].z),
                            v.w * scale * nw.w * detail::siluf(zv[u].w));
        }
    }
}

// Y = e^{cs_t}·Q·S_inᵀ + M·V for the warp's 16 rows (row block rb) and kYC of the P columns
// from colBase, all in registers: the scores Q·Kᵀ become the bf16 weights M as A operands of
// M·V without leaving the lane (the C and A layouts match, mma16).
template <int kYC>
struct YTile {
    static constexpr int kT = kYC / 8;  // 16×8 tiles (even)
    float y[kT][4];
};

struct ChunkView {
    const bf16 *Qb, *Kb, *Vb, *Sb;
    const float *cs, *scl, *gam;
    int ldq, ldv, N, cnt, cols;
    float pend;
};

// The rows' part of a chunk's output common to the key parts below.
struct RowsView {
    const bf16* qRow;  // the lane's ldmatrix address of the warp's Q rows
    int row0, i0, i1;  // the block's first row, the lane's rows
    float ci0, ci1, gi0, gi1;
};

// Y += M·V over key tiles [kJ0, kJ0 + kNJ) (8 keys each, kNJ even): the scores of those
// keys, their weights, the product. Done in two parts so that fewer scores are live at once.
template <int kJ0, int kNJ, int kYC>
__device__ __forceinline__ void keyPart(const ChunkView& v, const RowsView& r, int colBase,
                                        YTile<kYC>& Y) {
    constexpr int kT = YTile<kYC>::kT;
    const int lane = threadIdx.x & 31, t4 = lane & 3;
    // A key tile counts unless all its columns are padding or in-chunk keys of later tokens
    // for all 16 rows.
    auto live = [&](int jt) {
        return jt * 8 < v.cols && !(jt * 8 + 7 < v.cnt && jt * 8 > r.row0 + 15);
    };
    bool any = false;
#pragma unroll
    for (int j = 0; j < kNJ; ++j) any |= live(kJ0 + j);
    if (!any) return;
    float s[kNJ][4];
#pragma unroll
    for (int j = 0; j < kNJ; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
    for (int kk = 0; kk < v.N / 16; ++kk) {
        uint32_t qa[4];
        ldm4(qa, r.qRow + kk * 16);
#pragma unroll
        for (int jp = 0; jp < kNJ / 2; ++jp) {
            const bool l0 = live(kJ0 + 2 * jp), l1 = live(kJ0 + 2 * jp + 1);
            if (!l0 && !l1) continue;
            uint32_t b[4];
            ldm4(b, v.Kb + ((kJ0 + 2 * jp) * 8 + rowPat2(lane)) * v.ldq + kk * 16 + colPat2(lane));
            if (l0) mma(s[2 * jp], qa, b[0], b[1]);
            if (l1) mma(s[2 * jp + 1], qa, b[2], b[3]);
        }
    }
    // Decay/trapezoid weights (zero above the diagonal and in the padding); __expf: M is
    // rounded to bf16 anyway. The pending key (column cnt) weighs e^{cs_i}·pend.
#pragma unroll
    for (int jt = 0; jt < kNJ; ++jt) {
#pragma unroll
        for (int u = 0; u < 2; ++u) {
            const int j = (kJ0 + jt) * 8 + 2 * t4 + u;
            float cj = 0.0f, sj = 0.0f;
            if (j < v.cnt) {
                cj = v.cs[j];
                sj = v.scl[j];
            }
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int i = h ? r.i1 : r.i0;
                const float ci = h ? r.ci1 : r.ci0, gi = h ? r.gi1 : r.gi0;
                float& e = s[jt][2 * h + u];
                if (i >= v.cnt || j >= v.cols || (j < v.cnt && j > i))
                    e = 0.0f;
                else
                    e *= j < v.cnt ? __expf(ci - cj) * (j < i ? sj : gi) : __expf(ci) * v.pend;
            }
        }
    }
    const bf16* vCol = v.Vb + (kJ0 * 8 + rowPat1(lane)) * v.ldv + colBase + colPat1(lane);
#pragma unroll
    for (int kk = 0; kk < kNJ / 2; ++kk) {
        if (!live(kJ0 + 2 * kk) && !live(kJ0 + 2 * kk + 1)) continue;
        const uint32_t a[4] = {packBf16(s[2 * kk][0], s[2 * kk][1]),
                               packBf16(s[2 * kk][2], s[2 * kk][3]),
                               packBf16(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                               packBf16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
        for (int np = 0; np < kT / 2; ++np) {
            uint32_t b[4];
            ldm4t(b, vCol + kk * 16 * v.ldv + np * 16);
            mma(Y.y[2 * np], a, b[0], b[1]);
            mma(Y.y[2 * np + 1], a, b[2], b[3]);
        }
    }
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
    r.qRow = v.Qb + (row0 + rowPat1(lane)) * v.ldq + colPat1(lane);
    // Q·S_inᵀ.
    for (int kk = 0; kk < v.N / 16; ++kk) {
        uint32_t qa[4];
        ldm4(qa, r.qRow + kk * 16);
#pragma unroll
        for (int np = 0; np < kT / 2; ++np) {
            uint32_t b[4];
            ldm4(b, v.Sb + (colBase + np * 16 + rowPat2(lane)) * v.ldq + kk * 16 + colPat2(lane));
            mma(Y.y[2 * np], qa, b[0], b[1]);
            mma(Y.y[2 * np + 1], qa, b[2], b[3]);
        }
    }
    r.row0 = row0;
    r.i0 = row0 + g;
    r.i1 = r.i0 + 8;
    const bool in0 = r.i0 < v.cnt, in1 = r.i1 < v.cnt;
    r.ci0 = in0 ? v.cs[r.i0] : 0.0f;
    r.ci1 = in1 ? v.cs[r.i1] : 0.0f;
    r.gi0 = in0 ? v.gam[r.i0] : 0.0f;
    r.gi1 = in1 ? v.gam[r.i1] : 0.0f;
    const float f0 = in0 ? __expf(r.ci0) : 0.0f, f1 = in1 ? __expf(r.ci1) : 0.0f;
#pragma unroll
    for (int n = 0; n < kT; ++n) {
        Y.y[n][0] *= f0;
        Y.y[n][1] *= f0;
        Y.y[n][2] *= f1;
        Y.y[n][3] *= f1;
    }
    static_assert(kCols == 80, "the key parts below cover 80 keys");
    keyPart<0, 6>(v, r, colBase, Y);
    keyPart<6, 4>(v, r, colBase, Y);
}

// kFull: the walk (y, state); else the state-only walk of segments 0..S-2. kP: the head
// dimension (the register tiles of y are sized by it).
template <bool kFull, int kP>
__global__ void __launch_bounds__(kThreads, 2) walkKernel(WalkArgs w) {
    extern __shared__ __align__(128) unsigned char sm[];
    const ScanArgs& a = w.a;
    const detail::KDims& d = a.d;
    constexpr int P = kP;
    const int h = blockIdx.x, seg = blockIdx.y, N = d.N;
    const int64_t b = blockIdx.z, bh = b * d.H + h, PN = int64_t(P) * N;
    const LayoutW L = layoutW(N, P);
    bf16* Qb = reinterpret_cast<bf16*>(sm + L.q);
    bf16* Kb = reinterpret_cast<bf16*>(sm + L.k);
    bf16* Vb = reinterpret_cast<bf16*>(sm + L.v);
    bf16* Sb = reinterpret_cast<bf16*>(sm + L.sb);
    float* Yf = reinterpret_cast<float*>(sm + L.yf);
    const ScalarArrays sa(reinterpret_cast<float*>(sm + L.scal));
    float *cs = sa.cs, *dtS = sa.dtS, *trS = sa.trS, *scl = sa.scl, *gam = sa.gam, *wG = sa.wG;
    __shared__ double tot[2];
    const int nTiles = (P / 16) * (N / 16), nb = N / 16, warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int c0 = seg * w.segChunks, c1 = min(a.nC, c0 + w.segChunks);
    // y: warp → row block warp % 4 and half the P columns (all 16 at P = 16, where the
    // second warp of a row block stores nothing).
    constexpr int kYC = P >= 32 ? P / 2 : 16;
    const int rb = warp & 3, colBase = P >= 32 ? (warp >> 2) * (P / 2) : 0;
    const bool storeY = P >= 32 || warp < 4;
    // Entry state: the document's for segment 0; else zero (state walk) or combined,
    // In_s = Σ_{u<s} (Π_{u<v<s} decay_v)·end_u.
    StateAcc st;
    if (seg == 0) {
        const float* g0 = a.st.ssm + bh * PN;
        forStateElems(nTiles, nb,
                      [&](int i, int hh, int e, int p, int n) { st[i][hh][e] = g0[p * N + n]; });
    } else {
        forStateElems(nTiles, nb, [&](int i, int hh, int e, int, int) { st[i][hh][e] = 0.0f; });
        if constexpr (kFull) {
            const int64_t e0 = bh * (w.S - 1);
            for (int u = 0; u < seg; ++u) {
                const float* gt = w.segEnd + (e0 + u) * PN;
                const float dec = u > 0 ? w.segDecay[e0 + u] : 0.0f;
                forStateElems(nTiles, nb, [&](int i, int hh, int e, int p, int n) {
                    st[i][hh][e] = dec * st[i][hh][e] + gt[p * N + n];
                });
            }
        }
    }
    if constexpr (kFull) stateToBf16(st, Sb, L.ldq, N, nTiles);
    const bool xVec = reinterpret_cast<uintptr_t>(a.in.x) % 16 == 0 && a.in.xStride % 4 == 0;
    const bool stVec =
        (reinterpret_cast<uintptr_t>(a.st.k) | reinterpret_cast<uintptr_t>(a.st.v)) % 16 == 0;
    const int n4 = N / 4, p4 = P / 4;
    float decaySum = 0.0f;
    for (int c = c0; c < c1; ++c) {
        const int64_t t0 = int64_t(c) * a.Ck, row0 = b * a.T + t0, prevRow = row0 - 1;
        const int cnt = chunkCount(a, t0), cols = cnt + 1;
        const ChunkScalars sc = loadChunkScalars(a, b, h, t0, cnt, true);
        __syncthreads();  // the previous chunk's products are done with Q, K, V, Yf
        if constexpr (kFull)
            copyRowsAsync(
                cnt, N, Qb, L.ldq,
                [&](int j) { return a.qb + ((row0 + j) * d.H + h) * int64_t(N); }, cnt, kRows);
        copyRowsAsync(
            c > 0 ? cols : cnt, N, Kb, L.ldq,
            [&](int j) { return a.kb + ((j < cnt ? row0 + j : prevRow) * d.H + h) * int64_t(N); },
            cols, kCols);
        __pipeline_commit();
        // v rows: x. Where x rows are 16-byte aligned, the chunk's rows go by asynchronous
        // copies (fp32) to Yf's space (free until the products below) and are rounded to bf16
        // after the wait: one round trip for all loads. The rest through registers: the
        // pending row (the token before the chunk, or the state's v for the document's first
        // chunk), for that chunk the state's fp32 k, and all x rows where unaligned.
        float* xStage = Yf;
        if (xVec) {
            for (int i = threadIdx.x; i < cnt * p4; i += kThreads) {
                const int j = i / p4, p = 4 * (i % p4);
                __pipeline_memcpy_async(xStage + j * L.ldy + p,
                                        a.in.x + (row0 + j) * a.in.xStride + int64_t(h) * P + p,
                                        16);
            }
            __pipeline_commit();
        }
        const int nPend = c > 0 ? 0 : n4, xFrom = xVec ? cnt : 0;
        gatherBf16<4>(nPend + (kCols - xFrom) * p4, Kb, [&](int i, float4& v) -> int {
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
        __pipeline_wait_prior(0);
        scalarsToShared(sc, cnt, true, cs, dtS, trS, gam, scl, tot);
        if (xVec) {  // the staged x rows to bf16 (the barrier above made them visible)
            for (int i = threadIdx.x; i < cnt * p4; i += kThreads) {
                const int j = i / p4, p = 4 * (i % p4);
                storeBf16x4(Vb + j * L.ldv + p,
                            *reinterpret_cast<const float4*>(xStage + j * L.ldy + p));
            }
            __syncthreads();
        }
        const float pend = (1.0f - trS[0]) * dtS[0], csLast = cs[cnt - 1];
        decaySum += csLast;
        if constexpr (kFull) {
            YTile<kYC> Y;
            chunkOutput<kYC>(
                ChunkView{Qb, Kb, Vb, Sb, cs, scl, gam, L.ldq, L.ldv, N, cnt, cols, pend}, rb,
                colBase, Y);
            if (storeY) {
                const int i0 = rb * 16 + (lane >> 2), p0 = colBase + 2 * (lane & 3);
#pragma unroll
                for (int n = 0; n < YTile<kYC>::kT; ++n) {
                    *reinterpret_cast<float2*>(Yf + i0 * L.ldy + p0 + n * 8) =
                        make_float2(Y.y[n][0], Y.y[n][1]);
                    *reinterpret_cast<float2*>(Yf + (i0 + 8) * L.ldy + p0 + n * 8) =
                        make_float2(Y.y[n][2], Y.y[n][3]);
                }
            }
        }
        for (int j = threadIdx.x; j < kCols; j += kThreads)
            wG[j] = j < cnt ? expf(csLast - cs[j]) * scl[j] : j == cnt ? expf(csLast) * pend : 0.0f;
        __syncthreads();
        if constexpr (kFull) writeRows(w, h, row0, cnt, Yf, L.ldy, xVec);
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
                ldm4t(fa, Vb + (kk * 16 + rowPat2(lane)) * L.ldv + (t / nb) * 16 + colPat2(lane));
                ldm4t(fb, Kb + (kk * 16 + rowPat1(lane)) * L.ldq + (t % nb) * 16 + colPat1(lane));
                mma(st[i][0], fa, fb[0], fb[1]);
                mma(st[i][1], fa, fb[2], fb[3]);
            });
        }
        if constexpr (kFull) {
            if (c + 1 < c1) stateToBf16(st, Sb, L.ldq, N, nTiles);
        }
    }
    float* out = nullptr;
    if constexpr (kFull) {
        if (seg == w.S - 1) out = w.fin + bh * PN;
    } else {
        const int64_t e = bh * (w.S - 1) + seg;
        out = w.segEnd + e * PN;
        if (threadIdx.x == 0) w.segDecay[e] = expf(decaySum);
    }
    if (out)
        forStateElems(nTiles, nb,
                      [&](int i, int hh, int e, int p, int n) { out[p * N + n] = st[i][hh][e]; });
}

// The final states and the last token's k (fp32, in.k) and x become the documents' state.
__global__ void finishKernel(WalkArgs w) {
    const ScanArgs& a = w.a;
    const detail::KDims& d = a.d;
    const int h = blockIdx.x, N = d.N, P = d.P;
    const int64_t b = blockIdx.y, bh = b * d.H + h, PN = int64_t(P) * N, last = b * a.T + a.T - 1;
    for (int64_t e = threadIdx.x; e < PN; e += blockDim.x)
        a.st.ssm[bh * PN + e] = w.fin[bh * PN + e];
    for (int n = threadIdx.x; n < N; n += blockDim.x)
        a.st.k[bh * N + n] = a.in.k[(last * d.H + h) * int64_t(N) + n];
    for (int p = threadIdx.x; p < P; p += blockDim.x)
        a.st.v[bh * P + p] = a.in.x[last * a.in.xStride + int64_t(h) * P + p];
}

bool walkFits(const detail::KDims& d) {
    const int P = d.P;
    return d.R == 1 && !d.mimo && d.N % 16 == 0 && d.N <= 256 &&
           (P == 16 || P == 32 || P == 64 || P == 128) &&
           (P / 16) * (d.N / 16) <= kStTiles * kWarps &&
           layoutW(d.N, P).total <= size_t(maxSharedOptin());
}

// Segments a document: enough programs to fill the device once (H·batch·S walks against
// the multiprocessors' resident blocks), at most one a chunk.
template <int kP>
int autoSegments(int64_t programs, size_t bytes) {
    static const int slots = [bytes] {
        int dev = 0, sms = 0, per = 0;
        cudaGetDevice(&dev);
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per, walkKernel<true, kP>, kThreads, bytes);
        return std::max(1, sms * std::max(per, 1));
    }();
    return int(std::max<int64_t>(1, slots / std::max<int64_t>(programs, 1)));
}

// The state walk (S > 1), the walk and the final copy for head dimension kP; w's segment
// fields and workspace pointers are set here.
template <int kP>
cudaError_t launchWalks(WalkArgs w, int64_t batch, int segments, float* states, int64_t floats,
                        cudaStream_t s) {
    const detail::KDims& d = w.a.d;
    const size_t bytes = layoutW(d.N, kP).total;
    cudaFuncSetAttribute(walkKernel<true, kP>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                         int(bytes));
    cudaFuncSetAttribute(walkKernel<false, kP>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                         int(bytes));
    static const int envSegments = [] {
        const char* e = std::getenv("LECTERN_PREFILL_SEGMENTS");
        return e ? std::atoi(e) : 0;
    }();
    int S = segments > 0      ? segments
            : envSegments > 0 ? envSegments
                              : autoSegments<kP>(batch * d.H, bytes);
    S = int(std::min<int64_t>(S, w.a.nC));
    w.segChunks = (w.a.nC + S - 1) / S;
    w.S = (w.a.nC + w.segChunks - 1) / w.segChunks;  // no empty segment
    const int64_t BH = batch * d.H, PN = int64_t(kP) * d.N;
    w.segEnd = states;
    w.segDecay = w.segEnd + BH * (w.S - 1) * PN;
    w.fin = w.segDecay + BH * (w.S - 1);
    if (floats < BH * (w.S - 1) * (PN + 1) + BH * PN) return cudaErrorInvalidValue;
    if (w.S > 1)
        walkKernel<false, kP>
            <<<dim3(unsigned(d.H), unsigned(w.S - 1), unsigned(batch)), kThreads, bytes, s>>>(w);
    walkKernel<true, kP>
        <<<dim3(unsigned(d.H), unsigned(w.S), unsigned(batch)), kThreads, bytes, s>>>(w);
    finishKernel<<<dim3(unsigned(d.H), unsigned(batch)), kThreads, 0, s>>>(w);
    return cudaGetLastError();
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
    using namespace scan;
    if (batch <= 0 || T <= 0) return cudaSuccess;
    const detail::KDims d = detail::kdims(dims);
    auto a16 = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
    const bool gated = gate && gate->out;
    if (!walkFits(d) || !ws.qkBf16 || !a16(ws.qkBf16) || in.mimoX || !in.k ||
        (gated ? !gate->z || !a16(gate->out) : !y || !a16(y)))
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
    if (gated) w.gate = *gate;
    switch (d.P) {
        case 16:
            return launchWalks<16>(w, batch, segments, ws.chunkStates, ws.floats, s);
        case 32:
            return launchWalks<32>(w, batch, segments, ws.chunkStates, ws.floats, s);
        case 64:
            return launchWalks<64>(w, batch, segments, ws.chunkStates, ws.floats, s);
        default:
            return launchWalks<128>(w, batch, segments, ws.chunkStates, ws.floats, s);
    }
}

}  // namespace lectern::cuda
