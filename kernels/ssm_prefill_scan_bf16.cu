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

#include "ssm_chunk_scan_bf16_tiles.cuh"

namespace lectern::cuda::scan {
namespace {

using namespace tc;

constexpr int kStTiles = 4;  // state tiles a warp holds: (P/16)·(N/16) <= 32

struct WalkArgs {
    ScanArgs a;  // d, in, st, y, T, Ck, nC (the rest unused)
    PrefillGate gate;
    float* segEnd;    // [B, H, S-1, P·N]
    float* segDecay;  // [B, H, S-1]
    float* fin;       // [B, H, P·N] the final states until finish copies them
    int S, segChunks;
};

struct LayoutW {
    int ldq, ldv, ldm, lds, ldy;
    size_t q, k, v, m, sb, s, yf, scal, total;
};

// M (bf16 weights) reuses Q's space where it fits (Q is dead once its products are made):
// ~106 KB at N = 128, P = 64, two blocks a multiprocessor.
__host__ __device__ inline LayoutW layoutW(int N, int P) {
    LayoutW l{};
    l.ldq = N + 8;
    l.ldv = P + 8;
    l.ldm = kCols + 8;
    l.lds = kCols + 4;
    l.ldy = P + 4;
    l.q = 0;
    l.k = l.q + size_t(kRows) * l.ldq * 2;
    l.v = l.k + size_t(kCols) * l.ldq * 2;
    l.sb = l.v + size_t(kCols) * l.ldv * 2;
    const bool alias = l.ldm <= l.ldq;
    l.m = alias ? l.q : l.sb + size_t(P) * l.ldq * 2;
    l.s = alias ? l.sb + size_t(P) * l.ldq * 2 : l.m + size_t(kRows) * l.ldm * 2;
    l.yf = l.s + size_t(kRows) * l.lds * 4;
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

// The warp's state tiles (tile t = warp + kWarps·i of the (P/16) × (N/16) grid) to or from
// row-major fp32 [P, N] in device memory, through the warp's 16×16 slice of `stage`
// (fragments' element order is opaque; this also allows any alignment of `g`).
__device__ void stateTileIo(FragC (&st)[kStTiles], float* g, int N, int nTiles, float* stage,
                            bool load) {
    const int lane = threadIdx.x & 31, nb = N / 16;
    float* w = stage + (threadIdx.x >> 5) * 256;
    forWarpTiles(nTiles, [&](int i, int t) {
        float* gt = g + (t / nb) * 16 * N + (t % nb) * 16;
        if (load) {
            for (int e = lane; e < 256; e += 32) w[e] = gt[(e >> 4) * N + (e & 15)];
            __syncwarp();
            wmma::load_matrix_sync(st[i], w, 16, wmma::mem_row_major);
        } else {
            wmma::store_matrix_sync(w, st[i], 16, wmma::mem_row_major);
            __syncwarp();
            for (int e = lane; e < 256; e += 32) gt[(e >> 4) * N + (e & 15)] = w[e];
        }
        __syncwarp();
    });
}

// The bf16 copy of the state (row p of [P, N] at sb + p·ld) for Q·Sᵀ.
__device__ void stateToBf16(FragC (&st)[kStTiles], bf16* sb, int ld, int N, int nTiles,
                            float* stage) {
    const int lane = threadIdx.x & 31, nb = N / 16;
    float* w = stage + (threadIdx.x >> 5) * 256;
    forWarpTiles(nTiles, [&](int i, int t) {
        wmma::store_matrix_sync(w, st[i], 16, wmma::mem_row_major);
        __syncwarp();
        bf16* dt = sb + (t / nb) * 16 * ld + (t % nb) * 16;
        for (int e = lane; e < 128; e += 32) {
            const int r = e >> 3, c2 = (e & 7) * 2;
            *reinterpret_cast<__nv_bfloat162*>(dt + r * ld + c2) =
                __floats2bfloat162_rn(w[r * 16 + c2], w[r * 16 + c2 + 1]);
        }
        __syncwarp();
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

// kFull: the walk (y, state); else the state-only walk of segments 0..S-2.
template <bool kFull>
__global__ void __launch_bounds__(kThreads, 2) walkKernel(WalkArgs w) {
    extern __shared__ __align__(128) unsigned char sm[];
    const ScanArgs& a = w.a;
    const detail::KDims& d = a.d;
    const int h = blockIdx.x, seg = blockIdx.y, N = d.N, P = d.P;
    const int64_t b = blockIdx.z, bh = b * d.H + h, PN = int64_t(P) * N;
    const LayoutW L = layoutW(N, P);
    bf16* Qb = reinterpret_cast<bf16*>(sm + L.q);
    bf16* Kb = reinterpret_cast<bf16*>(sm + L.k);
    bf16* Vb = reinterpret_cast<bf16*>(sm + L.v);
    bf16* Mb = reinterpret_cast<bf16*>(sm + L.m);
    bf16* Sb = reinterpret_cast<bf16*>(sm + L.sb);
    float* Sf = reinterpret_cast<float*>(sm + L.s);
    float* Yf = reinterpret_cast<float*>(sm + L.yf);
    const ScalarArrays sa(reinterpret_cast<float*>(sm + L.scal));
    float *cs = sa.cs, *dtS = sa.dtS, *trS = sa.trS, *scl = sa.scl, *gam = sa.gam, *wG = sa.wG;
    __shared__ double tot[2];
    const int nTiles = (P / 16) * (N / 16), nb = N / 16, warp = threadIdx.x >> 5;
    const int c0 = seg * w.segChunks, c1 = min(a.nC, c0 + w.segChunks);
    // Entry state: the document's for segment 0; else zero (state walk) or combined.
    FragC st[kStTiles];
    if (seg == 0) {
        stateTileIo(st, a.st.ssm + bh * PN, N, nTiles, Sf, true);
    } else {
#pragma unroll
        for (int i = 0; i < kStTiles; ++i) wmma::fill_fragment(st[i], 0.0f);
        if constexpr (kFull) {
            // In_s = Σ_{u<s} (Π_{u<v<s} decay_v)·end_u, one tile at a time (registers).
            const int64_t e0 = bh * (w.S - 1);
            float* stage = Sf + warp * 256;
            const int lane = threadIdx.x & 31;
            forWarpTiles(nTiles, [&](int i, int t) {
                const int64_t at = (t / nb) * 16 * N + (t % nb) * 16;
                for (int u = 0; u < seg; ++u) {
                    const float* gt = w.segEnd + (e0 + u) * PN + at;
                    const float dec = u > 0 ? w.segDecay[e0 + u] : 0.0f;
                    for (int e = lane; e < 256; e += 32) stage[e] = gt[(e >> 4) * N + (e & 15)];
                    __syncwarp();
                    FragC add;
                    wmma::load_matrix_sync(add, stage, 16, wmma::mem_row_major);
                    __syncwarp();
                    for (int e = 0; e < add.num_elements; ++e)
                        st[i].x[e] = dec * st[i].x[e] + add.x[e];
                }
            });
        }
    }
    if constexpr (kFull) stateToBf16(st, Sb, L.ldq, N, nTiles, Sf);
    const bool xVec = reinterpret_cast<uintptr_t>(a.in.x) % 16 == 0 && a.in.xStride % 4 == 0;
    const bool stVec =
        (reinterpret_cast<uintptr_t>(a.st.k) | reinterpret_cast<uintptr_t>(a.st.v)) % 16 == 0;
    const int n4 = N / 4, p4 = P / 4;
    float decaySum = 0.0f;
    for (int c = c0; c < c1; ++c) {
        const int64_t t0 = int64_t(c) * a.Ck, row0 = b * a.T + t0, prevRow = row0 - 1;
        const int cnt = chunkCount(a, t0), cols = cnt + 1;
        const ChunkScalars sc = loadChunkScalars(a, b, h, t0, cnt, true);
        __syncthreads();  // the previous chunk's products are done with Q/M, K, V, Sf
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
        // A score tile is fully masked when all its columns are in-chunk keys of later tokens.
        auto masked = [&](int ti, int tj) { return tj * 16 + 15 < cnt && tj > ti; };
        if constexpr (kFull) {
            const Tiles<bf16> q{Qb, L.ldq};
            warpTiles<FragA, FragBc>(kRows / 16, kCols / 16, N / 16, q, TilesT<bf16>{Kb, L.ldq},
                                     StoreTiles{Sf, L.lds}, masked);
            warpTiles<FragA, FragBc>(kRows / 16, P / 16, N / 16, q, TilesT<bf16>{Sb, L.ldq},
                                     StoreTiles{Yf, L.ldy}, NoSkip{});
            __syncthreads();
            // Decay/trapezoid weights (zero above the diagonal and in the padding) to bf16
            // over Q; the inter-chunk part's rows scaled by e^{cs_t}.
            // Two adjacent columns a thread (one bf16 pair store); __expf: M is rounded to
            // bf16 anyway.
            for (int e = threadIdx.x; e < kRows * kCols / 2; e += kThreads) {
                const int i = e / (kCols / 2), j0 = 2 * (e % (kCols / 2));
                float v[2] = {0.0f, 0.0f};
                if (i < cnt) {
                    const float ci = cs[i];
#pragma unroll
                    for (int u = 0; u < 2; ++u) {
                        const int j = j0 + u;
                        if (j >= cols || masked(i / 16, j / 16) || (j < cnt && j > i)) continue;
                        const float sij = Sf[i * L.lds + j];
                        v[u] = j < cnt ? __expf(ci - cs[j]) * (j < i ? scl[j] : gam[i]) * sij
                                       : __expf(ci) * pend * sij;
                    }
                }
                *reinterpret_cast<__nv_bfloat162*>(Mb + i * L.ldm + j0) =
                    __floats2bfloat162_rn(v[0], v[1]);
            }
            for (int e = threadIdx.x; e < cnt * p4; e += kThreads) {
                const int i = e / p4, p = 4 * (e % p4);
                float4* yv = reinterpret_cast<float4*>(Yf + i * L.ldy + p);
                const float f = __expf(cs[i]);
                const float4 o = *yv;
                *yv = make_float4(o.x * f, o.y * f, o.z * f, o.w * f);
            }
        }
        for (int j = threadIdx.x; j < kCols; j += kThreads)
            wG[j] = j < cnt ? expf(csLast - cs[j]) * scl[j] : j == cnt ? expf(csLast) * pend : 0.0f;
        __syncthreads();
        if constexpr (kFull) {
            warpTilesFrom<FragA, FragBr>(kRows / 16, P / 16, kCols / 16, LoadAccTiles{Yf, L.ldy},
                                         Tiles<bf16>{Mb, L.ldm}, Tiles<bf16>{Vb, L.ldv},
                                         StoreTiles{Yf, L.ldy}, NoSkip{});
            __syncthreads();
            writeRows(w, h, row0, cnt, Yf, L.ldy, xVec);
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
        // S <- e^{cs_last}·S + (w ∘ V)ᵀ·K on the warp's own tiles.
        const float dec = expf(csLast);
        // k-steps outermost: the warp's four accumulation chains interleave.
#pragma unroll
        for (int i = 0; i < kStTiles; ++i)
            for (int e = 0; e < st[i].num_elements; ++e) st[i].x[e] *= dec;
        for (int kk = 0; kk < kCols / 16; ++kk) {
            forWarpTiles(nTiles, [&](int i, int t) {
                FragAc fa;
                FragBr fb;
                TilesT<bf16>{Vb, L.ldv}(fa, t / nb, kk);
                Tiles<bf16>{Kb, L.ldq}(fb, kk, t % nb);
                wmma::mma_sync(st[i], fa, fb, st[i]);
            });
        }
        if constexpr (kFull) {
            if (c + 1 < c1) stateToBf16(st, Sb, L.ldq, N, nTiles, Sf);
        }
    }
    __syncthreads();  // Sf is the staging area below
    if constexpr (kFull) {
        if (seg == w.S - 1) stateTileIo(st, w.fin + bh * PN, N, nTiles, Sf, false);
    } else {
        const int64_t e = bh * (w.S - 1) + seg;
        stateTileIo(st, w.segEnd + e * PN, N, nTiles, Sf, false);
        if (threadIdx.x == 0) w.segDecay[e] = expf(decaySum);
    }
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
int autoSegments(int64_t programs, size_t bytes) {
    static const int slots = [bytes] {
        int dev = 0, sms = 0, per = 0;
        cudaGetDevice(&dev);
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per, walkKernel<true>, kThreads, bytes);
        return std::max(1, sms * std::max(per, 1));
    }();
    return int(std::max<int64_t>(1, slots / std::max<int64_t>(programs, 1)));
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
    const size_t bytes = layoutW(d.N, d.P).total;
    cudaFuncSetAttribute(walkKernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
    cudaFuncSetAttribute(walkKernel<false>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                         int(bytes));
    static const int envSegments = [] {
        const char* e = std::getenv("LECTERN_PREFILL_SEGMENTS");
        return e ? std::atoi(e) : 0;
    }();
    int S = segments > 0      ? segments
            : envSegments > 0 ? envSegments
                              : autoSegments(batch * d.H, bytes);
    S = int(std::min<int64_t>(S, w.a.nC));
    w.segChunks = (w.a.nC + S - 1) / S;
    w.S = (w.a.nC + w.segChunks - 1) / w.segChunks;  // no empty segment
    const int64_t BH = batch * d.H, PN = int64_t(d.P) * d.N;
    w.segEnd = ws.chunkStates;
    w.segDecay = w.segEnd + BH * (w.S - 1) * PN;
    w.fin = w.segDecay + BH * (w.S - 1);
    if (ws.floats < BH * (w.S - 1) * (PN + 1) + BH * PN) return cudaErrorInvalidValue;
    if (w.S > 1)
        walkKernel<false>
            <<<dim3(unsigned(d.H), unsigned(w.S - 1), unsigned(batch)), kThreads, bytes, s>>>(w);
    walkKernel<true>
        <<<dim3(unsigned(d.H), unsigned(w.S), unsigned(batch)), kThreads, bytes, s>>>(w);
    finishKernel<<<dim3(unsigned(d.H), unsigned(batch)), kThreads, 0, s>>>(w);
    return cudaGetLastError();
}

}  // namespace lectern::cuda
