// The chunked scan's two per-chunk phases on the tensor cores (wmma bf16 16×16×16, fp32
// accumulation), for Precision::Bf16; same maths as phase1/phase3 of ssm_chunk_scan.cu,
// whose fp32 CUDA-core version stays the exact mode. A chunk has at most 64 rows
// (token·rank); with the R pending key rows that makes at most 80 key columns. Operands
// are rounded to bf16 once in shared memory; scores, decay weights, the D·x skip, the
// chunk states and their inter-chunk recurrence (phase 2) stay fp32.
//  phase 1: S = Q·Kᵀ (fp32) -> masked decay weights -> M (bf16); y = M·V + D·x;
//           V rows scaled by their state weights; G = Vᵀ·K to the chunk's state slot.
//  phase 3: y += e^{cs_t} · Q·S_inᵀ.
// Rows are padded by 8 bf16 (16 bytes) against bank conflicts; tiles start 32-byte aligned.
#include <cuda_bf16.h>
#include <mma.h>

#include "ssm_chunk_scan_common.cuh"

namespace lectern::cuda::scan {
namespace {

using namespace nvcuda;
using bf16 = __nv_bfloat16;
using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major>;
using FragAc = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::col_major>;
using FragBr = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major>;
using FragBc = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

constexpr int kRows = 64, kCols = 80, kThreads = 256, kWarps = kThreads / 32;

struct Layout1 {  // phase 1 shared memory, in bytes from the start
    int ldq, ldv, ldm, lds;
    size_t q, k, v, m, s, scal, stage, total;
};

// M (bf16 weights) reuses Q's space when it fits (Q is dead once the scores are made), and
// the stage exists only for the in_proj source: 74 KB instead of 89 KB at N = 128, P = 64,
// so 3 blocks fit a multiprocessor instead of 2 (phase 1 is latency-bound).
__host__ __device__ inline Layout1 layout1(int N, int P, bool stage) {
    Layout1 l{};
    l.ldq = N + 8;
    l.ldv = P + 8;
    l.ldm = kCols + 8;
    l.lds = (P > kCols ? P : kCols) + 4;
    l.q = 0;
    l.k = l.q + size_t(kRows) * l.ldq * 2;
    l.v = l.k + size_t(kCols) * l.ldq * 2;
    const bool alias = l.ldm <= l.ldq;
    l.m = alias ? l.q : l.v + size_t(kCols) * l.ldv * 2;
    l.s = alias ? l.v + size_t(kCols) * l.ldv * 2 : l.m + size_t(kRows) * l.ldm * 2;
    l.scal = l.s + size_t(kRows) * l.lds * 4;
    l.stage = l.scal + size_t(5 * kRows + kCols) * 4;
    l.total = l.stage + (stage ? size_t(kWarps) * N * 4 : 0);
    return l;
}

struct Layout3 {
    int ldq, lds;
    size_t q, st, s, scal, stage, total;
};

__host__ __device__ inline Layout3 layout3(int N, int P, bool stage) {
    Layout3 l{};
    l.ldq = N + 8;
    l.lds = P + 4;
    l.q = 0;
    l.st = l.q + size_t(kRows) * l.ldq * 2;
    l.s = l.st + size_t(P) * l.ldq * 2;
    l.scal = l.s + size_t(kRows) * l.lds * 4;
    l.stage = l.scal + size_t(kRows) * 4;
    l.total = l.stage + (stage ? size_t(kWarps) * N * 4 : 0);
    return l;
}

__device__ inline void storeBf16x4(bf16* dst, float4 v) {
    reinterpret_cast<__nv_bfloat162*>(dst)[0] = __floats2bfloat162_rn(v.x, v.y);
    reinterpret_cast<__nv_bfloat162*>(dst)[1] = __floats2bfloat162_rn(v.z, v.w);
}

// Rows [0, nRows) of q or k for the chunk as bf16 (row j = t·R + r); rows from
// nRows + keep up to padRows zero (the `keep` rows between are the caller's). 16-byte
// loads: N is a multiple of 16 and every row starts 16-byte aligned.
__device__ void loadQKBf16(const ScanArgs& a, const float* src, int64_t b, int h, int64_t t0,
                           int nRows, int keep, int padRows, bf16* dst, int ld) {
    const detail::KDims& d = a.d;
    const int n4 = d.N / 4;
    const int64_t base = (b * a.T + t0) * d.R;
#pragma unroll 4
    for (int i = threadIdx.x; i < padRows * n4; i += blockDim.x) {
        const int j = i / n4, n = 4 * (i % n4);
        if (j >= nRows && j < nRows + keep) continue;
        float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
        if (j < nRows)
            v = *reinterpret_cast<const float4*>(src + ((base + j) * d.H + h) * int64_t(d.N) + n);
        storeBf16x4(dst + j * ld + n, v);
    }
}

// As loadQKBf16, with the rows made from the in_proj rows (a.qk): one warp per row.
__device__ void loadQKFromProj(const ScanArgs& a, bool isQ, int64_t b, int h, int64_t t0, int nRows,
                               int keep, int padRows, bf16* dst, int ld, float* stage) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, R = a.d.R;
    float* st = stage + warp * a.d.N;
    for (int j = warp; j < padRows; j += kWarps) {
        if (j >= nRows && j < nRows + keep) continue;
        bf16* row = dst + j * ld;
        if (j >= nRows) {
            for (int n = lane; n < a.d.N; n += 32) row[n] = __float2bfloat16_rn(0.0f);
            continue;
        }
        qkRowFromProj(a, isQ, b * a.T + t0 + j / R, j % R, h, st,
                      [&](int n, float v) { row[n] = __float2bfloat16_rn(v); });
    }
}

// C tiles [mTiles × nTiles] of A·B over kTiles, spread over the warps; store(ti, tj, acc).
// skip(ti, tj) leaves a tile out (fully masked).
template <class FA, class FB, class LoadA, class LoadB, class Store, class Skip>
__device__ void warpTiles(int mTiles, int nTiles, int kTiles, LoadA la, LoadB lb, Store st,
                          Skip skip) {
    const int warp = threadIdx.x >> 5;
    for (int t = warp; t < mTiles * nTiles; t += kWarps) {
        const int ti = t / nTiles, tj = t % nTiles;
        if (skip(ti, tj)) continue;
        FragC acc;
        wmma::fill_fragment(acc, 0.0f);
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

__global__ void __launch_bounds__(kThreads) phase1Bf16(ScanArgs a) {
    extern __shared__ __align__(128) unsigned char sm[];
    const detail::KDims& d = a.d;
    // Heads fastest: the heads of a chunk run together and share its in_proj rows in L2.
    const int h = blockIdx.x, c = blockIdx.y, R = d.R, N = d.N, P = d.P;
    const int64_t b = blockIdx.z, t0 = int64_t(c) * a.Ck;
    const Layout1 L = layout1(N, P, a.qk.proj != nullptr);
    float* stage = reinterpret_cast<float*>(sm + L.stage);
    bf16* Qb = reinterpret_cast<bf16*>(sm + L.q);
    bf16* Kb = reinterpret_cast<bf16*>(sm + L.k);
    bf16* Vb = reinterpret_cast<bf16*>(sm + L.v);
    bf16* Mb = reinterpret_cast<bf16*>(sm + L.m);
    float* Sf = reinterpret_cast<float*>(sm + L.s);
    float* cs = reinterpret_cast<float*>(sm + L.scal);
    float *dtS = cs + kRows, *trS = dtS + kRows, *scl = trS + kRows, *gam = scl + kRows;
    float* wG = gam + kRows;
    const int cnt = loadScalars(a, b, h, t0, cs, dtS, trS);
    const int rows = cnt * R, cols = rows + R;
    const bool fromProj = a.qk.proj != nullptr;
    const int64_t prevRow = b * a.T + t0 - 1;
    if (fromProj) {
        loadQKFromProj(a, true, b, h, t0, rows, 0, kRows, Qb, L.ldq, stage);
        loadQKFromProj(a, false, b, h, t0, rows, R, kCols, Kb, L.ldq, stage);
    } else {
        loadQKBf16(a, a.in.q, b, h, t0, rows, 0, kRows, Qb, L.ldq);
        loadQKBf16(a, a.in.k, b, h, t0, rows, R, kCols, Kb, L.ldq);
    }
    // Pending rows: the token before the chunk (the state for chunk 0).
    if (fromProj && c > 0) {
        const int warp = threadIdx.x >> 5;
        for (int r = warp; r < R; r += kWarps)
            qkRowFromProj(a, false, prevRow, r, h, stage + warp * N, [&](int n, float v) {
                Kb[(rows + r) * L.ldq + n] = __float2bfloat16_rn(v);
            });
    } else {
        for (int i = threadIdx.x; i < R * N; i += blockDim.x) {
            const int r = i / N, n = i % N;
            const float v = c == 0 ? a.st.k[((b * R + r) * d.H + h) * int64_t(N) + n]
                                   : a.in.k[((prevRow * R + r) * d.H + h) * int64_t(N) + n];
            Kb[(rows + r) * L.ldq + n] = __float2bfloat16_rn(v);
        }
    }
    for (int i = threadIdx.x; i < kCols * P; i += blockDim.x) {
        const int j = i / P, p = i % P;
        float v = 0.0f;
        if (j < cols) {
            const float* xRow;
            if (j < rows)
                xRow = a.in.x + (b * a.T + t0 + j / R) * a.in.xStride;
            else if (c == 0)
                xRow = a.st.v + b * d.H * int64_t(P);  // [H, P] like an x row
            else
                xRow = a.in.x + prevRow * a.in.xStride;
            v = upX(a, xRow, h, j < rows ? j % R : j - rows, p);
        }
        Vb[j * L.ldv + p] = __float2bfloat16_rn(v);
    }
    for (int s = threadIdx.x; s < cnt; s += blockDim.x) {
        gam[s] = trS[s] * dtS[s];
        scl[s] = gam[s] + (s + 1 < cnt ? (1.0f - trS[s + 1]) * dtS[s + 1] : 0.0f);
    }
    __syncthreads();
    const float pend = (1.0f - trS[0]) * dtS[0], csLast = cs[cnt - 1];
    // A tile is fully masked when all its columns are in-chunk keys of later tokens.
    auto masked = [&](int ti, int tj) {
        return (tj * 16 + 15) < rows && (tj * 16) / R > (ti * 16 + 15) / R;
    };
    warpTiles<FragA, FragBc>(
        kRows / 16, kCols / 16, N / 16,
        [&](FragA& f, int ti, int kk) {
            wmma::load_matrix_sync(f, Qb + ti * 16 * L.ldq + kk * 16, L.ldq);
        },
        [&](FragBc& f, int kk, int tj) {
            wmma::load_matrix_sync(f, Kb + tj * 16 * L.ldq + kk * 16, L.ldq);
        },
        [&](int ti, int tj, FragC& acc) {
            wmma::store_matrix_sync(Sf + ti * 16 * L.lds + tj * 16, acc, L.lds,
                                    wmma::mem_row_major);
        },
        masked);
    __syncthreads();
    // Decay/trapezoid weights (zero above the diagonal and in the padding), then bf16.
    for (int e = threadIdx.x; e < kRows * kCols; e += blockDim.x) {
        const int i = e / kCols, j = e % kCols;
        float v = 0.0f;
        if (i < rows && j < cols && !masked(i / 16, j / 16)) {
            const int t = i / R;
            if (j < rows) {
                const int s2 = j / R;
                if (s2 <= t)
                    v = expf(cs[t] - cs[s2]) * (s2 < t ? scl[s2] : gam[t]) * Sf[i * L.lds + j];
            } else {
                v = expf(cs[t]) * pend * Sf[i * L.lds + j];
            }
        }
        Mb[i * L.ldm + j] = __float2bfloat16_rn(v);
    }
    for (int j = threadIdx.x; j < kCols; j += blockDim.x)
        wG[j] = j < rows   ? expf(csLast - cs[j / R]) * scl[j / R]
                : j < cols ? expf(csLast) * pend
                           : 0.0f;
    __syncthreads();
    warpTiles<FragA, FragBr>(
        kRows / 16, P / 16, kCols / 16,
        [&](FragA& f, int ti, int kk) {
            wmma::load_matrix_sync(f, Mb + ti * 16 * L.ldm + kk * 16, L.ldm);
        },
        [&](FragBr& f, int kk, int tj) {
            wmma::load_matrix_sync(f, Vb + kk * 16 * L.ldv + tj * 16, L.ldv);
        },
        [&](int ti, int tj, FragC& acc) {
            wmma::store_matrix_sync(Sf + ti * 16 * L.lds + tj * 16, acc, L.lds,
                                    wmma::mem_row_major);
        },
        [](int, int) { return false; });
    __syncthreads();
    const float Dh = a.in.D[h];
    for (int e = threadIdx.x; e < rows * P; e += blockDim.x) {
        const int i = e / P, p = e % P;
        const int64_t row = b * a.T + t0 + i / R;
        const float x = upX(a, a.in.x + row * a.in.xStride, h, i % R, p);
        a.y[((row * R + i % R) * d.H + h) * int64_t(P) + p] = Sf[i * L.lds + p] + Dh * x;
    }
    // V rows scaled by their state weights (V is not needed unscaled any more).
    for (int e = threadIdx.x; e < kCols * P; e += blockDim.x) {
        const int j = e / P, p = e % P;
        Vb[j * L.ldv + p] = __float2bfloat16_rn(__bfloat162float(Vb[j * L.ldv + p]) * wG[j]);
    }
    __syncthreads();
    const int64_t PN = int64_t(P) * N;
    float* G = a.chunkStates + ((b * d.H + h) * a.nC + c) * PN;
    warpTiles<FragAc, FragBr>(
        P / 16, N / 16, kCols / 16,
        [&](FragAc& f, int ti, int kk) {
            wmma::load_matrix_sync(f, Vb + kk * 16 * L.ldv + ti * 16, L.ldv);
        },
        [&](FragBr& f, int kk, int tj) {
            wmma::load_matrix_sync(f, Kb + kk * 16 * L.ldq + tj * 16, L.ldq);
        },
        [&](int ti, int tj, FragC& acc) {
            wmma::store_matrix_sync(G + ti * 16 * N + tj * 16, acc, N, wmma::mem_row_major);
        },
        [](int, int) { return false; });
    if (threadIdx.x == 0) a.chunkDecay[(b * d.H + h) * a.nC + c] = expf(csLast);
}

__global__ void __launch_bounds__(kThreads) phase3Bf16(ScanArgs a) {
    extern __shared__ __align__(128) unsigned char sm[];
    const detail::KDims& d = a.d;
    const int h = blockIdx.x, c = blockIdx.y, R = d.R, N = d.N, P = d.P;
    const int64_t b = blockIdx.z, t0 = int64_t(c) * a.Ck, PN = int64_t(P) * N;
    const Layout3 L = layout3(N, P, a.qk.proj != nullptr);
    float* stage = reinterpret_cast<float*>(sm + L.stage);
    bf16* Qb = reinterpret_cast<bf16*>(sm + L.q);
    bf16* Sb = reinterpret_cast<bf16*>(sm + L.st);
    float* Sf = reinterpret_cast<float*>(sm + L.s);
    float* cs = reinterpret_cast<float*>(sm + L.scal);
    const int cnt = loadScalars(a, b, h, t0, cs, nullptr, nullptr);
    const int rows = cnt * R;
    if (a.qk.proj)
        loadQKFromProj(a, true, b, h, t0, rows, 0, kRows, Qb, L.ldq, stage);
    else
        loadQKBf16(a, a.in.q, b, h, t0, rows, 0, kRows, Qb, L.ldq);
    const float* Sin = a.chunkStates + ((b * d.H + h) * a.nC + c) * PN;
    const int n4 = N / 4;
    for (int i = threadIdx.x; i < P * n4; i += blockDim.x) {
        const int p = i / n4, n = 4 * (i % n4);
        storeBf16x4(Sb + p * L.ldq + n, *reinterpret_cast<const float4*>(Sin + int64_t(p) * N + n));
    }
    __syncthreads();
    warpTiles<FragA, FragBc>(
        kRows / 16, P / 16, N / 16,
        [&](FragA& f, int ti, int kk) {
            wmma::load_matrix_sync(f, Qb + ti * 16 * L.ldq + kk * 16, L.ldq);
        },
        [&](FragBc& f, int kk, int tj) {
            wmma::load_matrix_sync(f, Sb + tj * 16 * L.ldq + kk * 16, L.ldq);
        },
        [&](int ti, int tj, FragC& acc) {
            wmma::store_matrix_sync(Sf + ti * 16 * L.lds + tj * 16, acc, L.lds,
                                    wmma::mem_row_major);
        },
        [&](int ti, int) { return ti * 16 >= rows; });
    __syncthreads();
    for (int e = threadIdx.x; e < rows * P; e += blockDim.x) {
        const int i = e / P, p = e % P;
        const int64_t row = b * a.T + t0 + i / R;
        a.y[((row * R + i % R) * d.H + h) * int64_t(P) + p] += expf(cs[i / R]) * Sf[i * L.lds + p];
    }
}

int maxSharedOptin() {
    static int v = [] {
        int dev = 0, n = 0;
        cudaGetDevice(&dev);
        cudaDeviceGetAttribute(&n, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
        return n;
    }();
    return v;
}

}  // namespace

bool bf16Fits(const detail::KDims& d, int Ck) {
    const size_t lim = size_t(maxSharedOptin());
    return d.N % 16 == 0 && d.P % 16 == 0 && d.N <= kMaxStageN && Ck * d.R <= kRows &&
           Ck <= kRows && kRows + d.R <= kCols && layout1(d.N, d.P, true).total <= lim &&
           layout3(d.N, d.P, true).total <= lim;
}

cudaError_t launchPhase1Bf16(const ScanArgs& a, int64_t batch, cudaStream_t s) {
    const size_t bytes = layout1(a.d.N, a.d.P, a.qk.proj != nullptr).total;
    cudaFuncSetAttribute(phase1Bf16, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
    phase1Bf16<<<dim3(unsigned(a.d.H), unsigned(a.nC), unsigned(batch)), kThreads, bytes, s>>>(a);
    return cudaGetLastError();
}

cudaError_t launchPhase3Bf16(const ScanArgs& a, int64_t batch, cudaStream_t s) {
    const size_t bytes = layout3(a.d.N, a.d.P, a.qk.proj != nullptr).total;
    cudaFuncSetAttribute(phase3Bf16, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
    phase3Bf16<<<dim3(unsigned(a.d.H), unsigned(a.nC), unsigned(batch)), kThreads, bytes, s>>>(a);
    return cudaGetLastError();
}

}  // namespace lectern::cuda::scan
