// The tensor-core scan kernels' shared pieces (kernels/ssm_chunk_scan_bf16.cu's phases
// and kernels/ssm_prefill_scan_bf16.cu's walk): wmma fragment types, the chunk's tile
// sizes, 16-byte loads to bf16 shared memory, the chunk scalars and the warp-tiled
// products. Rows are padded by 8 bf16 (16 bytes) against bank conflicts.
#pragma once

#include <cuda_bf16.h>
#include <cuda_pipeline.h>
#include <mma.h>

#include "ssm_chunk_scan_common.cuh"

namespace lectern::cuda::scan::tc {

using namespace nvcuda;
using bf16 = __nv_bfloat16;
using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major>;
using FragAc = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::col_major>;
using FragBr = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major>;
using FragBc = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

constexpr int kRows = 64, kCols = 80, kThreads = 256, kWarps = kThreads / 32;

__device__ inline void storeBf16x4(bf16* dst, float4 v) {
    reinterpret_cast<__nv_bfloat162*>(dst)[0] = __floats2bfloat162_rn(v.x, v.y);
    reinterpret_cast<__nv_bfloat162*>(dst)[1] = __floats2bfloat162_rn(v.z, v.w);
}

// Four consecutive floats: one 16-byte load where the row allows it, else four.
__device__ __forceinline__ float4 ld4(const float* p, bool vec) {
    if (vec) return __ldg(reinterpret_cast<const float4*>(p));
    return make_float4(__ldg(p), __ldg(p + 1), __ldg(p + 2), __ldg(p + 3));
}

__device__ __forceinline__ float4 mul4(float4 a, float4 b) {
    return make_float4(a.x * b.x, a.y * b.y, a.z * b.z, a.w * b.w);
}

// Groups of four floats to bf16 in shared memory. The phases are latency-bound, so each
// thread issues the loads of kB groups before it stores any: item(i, v) loads group i into
// v and returns its offset in bf16 elements from `base` (-1: nothing to store).
template <int kB, class Item>
__device__ __forceinline__ void gatherBf16(int nItems, bf16* base, Item item) {
    for (int i0 = threadIdx.x; i0 < nItems; i0 += kB * kThreads) {
        float4 v[kB];
        int at[kB];
#pragma unroll
        for (int u = 0; u < kB; ++u) {
            const int i = i0 + u * kThreads;
            at[u] = i < nItems ? item(i, v[u]) : -1;
        }
#pragma unroll
        for (int u = 0; u < kB; ++u)
            if (at[u] >= 0) storeBf16x4(base + at[u], v[u]);
    }
}

// Rows [0, nRows) of a bf16 [.., H, N] array (row j at src(j)) to shared memory by 16-byte
// asynchronous copies (no registers held; the caller commits and waits), then rows
// [zeroFrom, zeroTo) zero. N is a multiple of 16, rows start 16-byte aligned.
template <class Src>
__device__ __forceinline__ void copyRowsAsync(int nRows, int N, bf16* dst, int ld, Src src,
                                              int zeroFrom, int zeroTo) {
    const int n8 = N / 8;
    for (int i = threadIdx.x; i < nRows * n8; i += kThreads) {
        const int j = i / n8, n = 8 * (i % n8);
        __pipeline_memcpy_async(dst + j * ld + n, src(j) + n, 16);
    }
    for (int i = threadIdx.x; i < (zeroTo - zeroFrom) * n8; i += kThreads) {
        const int j = zeroFrom + i / n8, n = 8 * (i % n8);
        *reinterpret_cast<uint4*>(dst + j * ld + n) = make_uint4(0u, 0u, 0u, 0u);
    }
}

// The chunk's scalars, read into registers before the big loads so that they are in flight
// together; scalarsToShared then makes the in-chunk cumulative sum of adt (double, as
// loadScalars) with warp shuffles. Threads s < cnt (<= 64) hold token s.
struct ChunkScalars {
    float adt = 0.0f, dt = 0.0f, tr = 0.0f, dtNext = 0.0f, trNext = 0.0f;
};

__device__ __forceinline__ int chunkCount(const ScanArgs& a, int64_t t0) {
    const int64_t rem = a.T - t0;
    return int(rem < a.Ck ? rem : int64_t(a.Ck));
}

__device__ __forceinline__ ChunkScalars loadChunkScalars(const ScanArgs& a, int64_t b, int h,
                                                         int64_t t0, int cnt, bool all) {
    ChunkScalars v;
    const int s = threadIdx.x;
    if (s < cnt) {
        const int64_t i = (b * a.T + t0 + s) * a.d.H + h;
        v.adt = __ldg(a.in.adt + i);
        if (all) {
            v.dt = __ldg(a.in.dt + i);
            v.tr = __ldg(a.in.trap + i);
            if (s + 1 < cnt) {
                v.dtNext = __ldg(a.in.dt + i + a.d.H);
                v.trNext = __ldg(a.in.trap + i + a.d.H);
            }
        }
    }
    return v;
}

// The chunk scalars' shared arrays, kRows floats each from `base`, then wG (kCols).
struct ScalarArrays {
    float *cs, *dtS, *trS, *scl, *gam, *wG;
    __device__ explicit ScalarArrays(float* base)
        : cs(base),
          dtS(base + kRows),
          trS(base + 2 * kRows),
          scl(base + 3 * kRows),
          gam(base + 4 * kRows),
          wG(base + 5 * kRows) {}
};

// cs[s] = Σ_{u<=s} adt_u; with `all` also dtS, trS, gam (trap·dt) and scl (gam plus the
// next token's (1 − trap)·dt). `tot` holds 2 doubles. Ends with __syncthreads().
__device__ __forceinline__ void scalarsToShared(const ChunkScalars& v, int cnt, bool all, float* cs,
                                                float* dtS, float* trS, float* gam, float* scl,
                                                double* tot) {
    const int s = threadIdx.x, lane = s & 31, warp = s >> 5;
    double run = v.adt;
    if (warp < 2) {
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            const double u = __shfl_up_sync(0xffffffffu, run, o);
            if (lane >= o) run += u;
        }
        if (lane == 31) tot[warp] = run;
    }
    __syncthreads();
    if (warp == 1) run += tot[0];
    if (s < cnt) {
        cs[s] = float(run);
        if (all) {
            dtS[s] = v.dt;
            trS[s] = v.tr;
            gam[s] = v.tr * v.dt;
            scl[s] = gam[s] + (1.0f - v.trNext) * v.dtNext;  // zero past the chunk's end
        }
    }
    __syncthreads();
}

// C tiles [mTiles × nTiles] of init + A·B over kTiles, spread over the warps; init(ti, tj,
// acc) sets the accumulator, store(ti, tj, acc) stores it; skip(ti, tj) leaves a tile out.
template <class FA, class FB, class Init, class LoadA, class LoadB, class Store, class Skip>
__device__ void warpTilesFrom(int mTiles, int nTiles, int kTiles, Init init, LoadA la, LoadB lb,
                              Store st, Skip skip) {
    const int warp = threadIdx.x >> 5;
    for (int t = warp; t < mTiles * nTiles; t += kWarps) {
        const int ti = t / nTiles, tj = t % nTiles;
        if (skip(ti, tj)) continue;
        FragC acc;
        init(ti, tj, acc);
        for (int kk = 0; kk < kTiles; ++kk) {
            FA fa;
            FB fb;
            la(fa, ti, kk);
            lb(fb, kk, tj);
            wmma::mma_sync(acc, fa, fb, acc);
        }
        st(ti, tj, acc);
    }
}

// warpTiles' loaders and stores over a matrix of leading dimension ld: Tiles(f, r, c) loads
// the 16×16 tile at row block r, column block c; TilesT(f, r, c) the tile at row block c,
// column block r (an operand read transposed); StoreTiles and LoadAccTiles move fp32
// accumulators (row-major) at row block r, column block c.
template <class T>
struct Tiles {
    const T* base;
    int ld;
    template <class F>
    __device__ void operator()(F& f, int r, int c) const {
        wmma::load_matrix_sync(f, base + r * 16 * ld + c * 16, ld);
    }
};
template <class T>
struct TilesT {
    const T* base;
    int ld;
    template <class F>
    __device__ void operator()(F& f, int r, int c) const {
        wmma::load_matrix_sync(f, base + c * 16 * ld + r * 16, ld);
    }
};
struct StoreTiles {
    float* base;
    int ld;
    __device__ void operator()(int r, int c, FragC& acc) const {
        wmma::store_matrix_sync(base + r * 16 * ld + c * 16, acc, ld, wmma::mem_row_major);
    }
};
struct LoadAccTiles {
    const float* base;
    int ld;
    __device__ void operator()(int r, int c, FragC& acc) const {
        wmma::load_matrix_sync(acc, base + r * 16 * ld + c * 16, ld, wmma::mem_row_major);
    }
};
struct NoSkip {
    __device__ bool operator()(int, int) const { return false; }
};

// The same from zero: C = A·B.
template <class FA, class FB, class LoadA, class LoadB, class Store, class Skip>
__device__ void warpTiles(int mTiles, int nTiles, int kTiles, LoadA la, LoadB lb, Store st,
                          Skip skip) {
    warpTilesFrom<FA, FB>(
        mTiles, nTiles, kTiles, [](int, int, FragC& acc) { wmma::fill_fragment(acc, 0.0f); }, la,
        lb, st, skip);
}

}  // namespace lectern::cuda::scan::tc
