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
#include "ssm_chunk_scan_bf16_tiles.cuh"

namespace lectern::cuda::scan {
namespace {

using namespace tc;

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

// Rows [0, nRows) of q or k for the chunk as bf16 (row j = t·R + r), made from the in_proj
// rows (a.qk), one warp per row; rows from nRows + keep up to padRows zero (the `keep` rows
// between are the caller's).
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

// Where q and k come from; one instantiation each, so that each load path gets the
// registers for itself (3 blocks a multiprocessor allow 80).
enum QKSource { kQKFp32, kQKBf16, kQKFromProj };

template <int kQK>
__global__ void __launch_bounds__(kThreads, 3) phase1Bf16(ScanArgs a) {
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
    const ScalarArrays sa(reinterpret_cast<float*>(sm + L.scal));
    float *cs = sa.cs, *dtS = sa.dtS, *trS = sa.trS, *scl = sa.scl, *gam = sa.gam, *wG = sa.wG;
    __shared__ double tot[2];
    const int cnt = chunkCount(a, t0);
    const int rows = cnt * R, cols = rows + R;
    const int64_t prevRow = b * a.T + t0 - 1;
    const ChunkScalars sc = loadChunkScalars(a, b, h, t0, cnt, true);
    // q, k (with the pending rows) and v as one list of 4-float groups: Q [kRows, N],
    // K [kCols, N], V [kCols, P], zero past the chunk's rows.
    const int n4 = N / 4, p4 = P / 4, nQ = kRows * n4, nK = kCols * n4, nV = kCols * p4;
    const int64_t qkBase = (b * a.T + t0) * R;
    const bool xVec = reinterpret_cast<uintptr_t>(a.in.x) % 16 == 0 && a.in.xStride % 4 == 0;
    const bool stVec =
        (reinterpret_cast<uintptr_t>(a.st.k) | reinterpret_cast<uintptr_t>(a.st.v)) % 16 == 0;
    const bf16* smBase = Qb;
    auto item = [&](int i, float4& v) -> int {
        v = make_float4(0.f, 0.f, 0.f, 0.f);
        if (i < nQ) {
            const int j = i / n4, n = 4 * (i % n4);
            if (j < rows) v = ld4(a.in.q + ((qkBase + j) * d.H + h) * int64_t(N) + n, true);
            return int(Qb - smBase) + j * L.ldq + n;
        }
        i -= nQ;
        if (i < nK) {
            const int j = i / n4, n = 4 * (i % n4);
            if (j < rows) {
                v = ld4(a.in.k + ((qkBase + j) * d.H + h) * int64_t(N) + n, true);
            } else if (j < cols) {  // pending: the token before the chunk (the state for c = 0)
                const int r = j - rows;
                v = c == 0 ? ld4(a.st.k + ((b * R + r) * d.H + h) * int64_t(N) + n, stVec)
                           : ld4(a.in.k + ((prevRow * R + r) * d.H + h) * int64_t(N) + n, true);
            }
            return int(Kb - smBase) + j * L.ldq + n;
        }
        i -= nK;
        const int j = i / p4, p = 4 * (i % p4);
        if (j < cols) {
            const float* xRow;
            bool vec = xVec;
            if (j < rows) {
                xRow = a.in.x + (b * a.T + t0 + j / R) * a.in.xStride;
            } else if (c == 0) {
                xRow = a.st.v + b * d.H * int64_t(P);  // [H, P] like an x row
                vec = stVec;
            } else {
                xRow = a.in.x + prevRow * a.in.xStride;
            }
            v = ld4(xRow + int64_t(h) * P + p, vec);
            if (a.in.mimoX) {
                const int r = j < rows ? j % R : j - rows;
                v = mul4(v, ld4(a.in.mimoX + (int64_t(h) * R + r) * P + p, true));
            }
        }
        return int(Vb - smBase) + j * L.ldv + p;
    };
    if constexpr (kQK == kQKFromProj) {
        loadQKFromProj(a, true, b, h, t0, rows, 0, kRows, Qb, L.ldq, stage);
        loadQKFromProj(a, false, b, h, t0, rows, R, kCols, Kb, L.ldq, stage);
        if (c > 0) {
            const int warp = threadIdx.x >> 5;
            for (int r = warp; r < R; r += kWarps)
                qkRowFromProj(a, false, prevRow, r, h, stage + warp * N, [&](int n, float v) {
                    Kb[(rows + r) * L.ldq + n] = __float2bfloat16_rn(v);
                });
        } else {
            for (int i = threadIdx.x; i < R * N; i += blockDim.x) {
                const int r = i / N, n = i % N;
                Kb[(rows + r) * L.ldq + n] =
                    __float2bfloat16_rn(a.st.k[((b * R + r) * d.H + h) * int64_t(N) + n]);
            }
        }
        gatherBf16<4>(nV, Qb, [&](int i, float4& v) { return item(i + nQ + nK, v); });
    } else if constexpr (kQK == kQKBf16) {
        // q, k already bf16: asynchronous copies; the pending k rows of chunk 0 (the fp32
        // state) and v through registers meanwhile.
        const int kAsync = c > 0 ? cols : rows;
        copyRowsAsync(
            rows, N, Qb, L.ldq, [&](int j) { return a.qb + ((qkBase + j) * d.H + h) * int64_t(N); },
            rows, kRows);
        copyRowsAsync(
            kAsync, N, Kb, L.ldq,
            [&](int j) {
                return a.kb +
                       (j < rows ? (qkBase + j) * d.H + h : (prevRow * R + j - rows) * d.H + h) *
                           int64_t(N);
            },
            cols, kCols);
        __pipeline_commit();
        const int nPend = c > 0 ? 0 : R * n4;
        gatherBf16<8>(nPend + nV, Qb, [&](int i, float4& v) {
            return item(i < nPend ? nQ + rows * n4 + i : nQ + nK + i - nPend, v);
        });
        __pipeline_wait_prior(0);
    } else {
        gatherBf16<8>(nQ + nK + nV, Qb, item);
    }
    scalarsToShared(sc, cnt, true, cs, dtS, trS, gam, scl, tot);
    const float pend = (1.0f - trS[0]) * dtS[0], csLast = cs[cnt - 1];
    // A tile is fully masked when all its columns are in-chunk keys of later tokens.
    auto masked = [&](int ti, int tj) {
        return (tj * 16 + 15) < rows && (tj * 16) / R > (ti * 16 + 15) / R;
    };
    warpTiles<FragA, FragBc>(kRows / 16, kCols / 16, N / 16, Tiles<bf16>{Qb, L.ldq},
                             TilesT<bf16>{Kb, L.ldq}, StoreTiles{Sf, L.lds}, masked);
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
    warpTiles<FragA, FragBr>(kRows / 16, P / 16, kCols / 16, Tiles<bf16>{Mb, L.ldm},
                             Tiles<bf16>{Vb, L.ldv}, StoreTiles{Sf, L.lds}, NoSkip{});
    __syncthreads();
    const float Dh = a.in.D[h];
    // y = M·V + D·x, 4 columns a thread and 4 groups in flight (x is re-read in fp32).
    for (int e0 = threadIdx.x; e0 < rows * p4; e0 += 4 * kThreads) {
        float4 xv[4];
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            const int e = e0 + u * kThreads;
            if (e >= rows * p4) continue;
            const int i = e / p4, p = 4 * (e % p4);
            xv[u] = ld4(a.in.x + (b * a.T + t0 + i / R) * a.in.xStride + int64_t(h) * P + p, xVec);
            if (a.in.mimoX)
                xv[u] = mul4(xv[u], ld4(a.in.mimoX + (int64_t(h) * R + i % R) * P + p, true));
        }
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            const int e = e0 + u * kThreads;
            if (e >= rows * p4) continue;
            const int i = e / p4, p = 4 * (e % p4);
            const int64_t row = b * a.T + t0 + i / R;
            const float* m = Sf + i * L.lds + p;
            *reinterpret_cast<float4*>(a.y + ((row * R + i % R) * d.H + h) * int64_t(P) + p) =
                make_float4(m[0] + Dh * xv[u].x, m[1] + Dh * xv[u].y, m[2] + Dh * xv[u].z,
                            m[3] + Dh * xv[u].w);
        }
    }
    // V rows scaled by their state weights (V is not needed unscaled any more).
    for (int e = threadIdx.x; e < kCols * P; e += blockDim.x) {
        const int j = e / P, p = e % P;
        Vb[j * L.ldv + p] = __float2bfloat16_rn(__bfloat162float(Vb[j * L.ldv + p]) * wG[j]);
    }
    __syncthreads();
    const int64_t PN = int64_t(P) * N;
    float* G = a.chunkStates + ((b * d.H + h) * a.nC + c) * PN;
    warpTiles<FragAc, FragBr>(P / 16, N / 16, kCols / 16, TilesT<bf16>{Vb, L.ldv},
                              Tiles<bf16>{Kb, L.ldq}, StoreTiles{G, N}, NoSkip{});
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
    __shared__ double tot[2];
    const int cnt = chunkCount(a, t0);
    const int rows = cnt * R;
    const ChunkScalars sc = loadChunkScalars(a, b, h, t0, cnt, false);
    const int64_t sBase = ((b * d.H + h) * a.nC + c) * PN;
    const int n4 = N / 4, nQ = a.qk.proj ? 0 : kRows * n4;
    if (a.stateIn) {  // bf16 already: 16-byte asynchronous copies, no registers
        const int n8 = N / 8;
        for (int i = threadIdx.x; i < P * n8; i += kThreads) {
            const int p = i / n8, n = 8 * (i % n8);
            __pipeline_memcpy_async(Sb + p * L.ldq + n, a.stateIn + sBase + int64_t(p) * N + n, 16);
        }
        __pipeline_commit();
    }
    // q rows (unless made from in_proj) and the fp32 incoming state as one list of groups.
    const int64_t qkBase = (b * a.T + t0) * R;
    const float* Sin = a.chunkStates + sBase;
    const int nS = a.stateIn ? 0 : P * n4;
    if (a.qk.proj) loadQKFromProj(a, true, b, h, t0, rows, 0, kRows, Qb, L.ldq, stage);
    if (a.qb) {
        copyRowsAsync(
            rows, N, Qb, L.ldq, [&](int j) { return a.qb + ((qkBase + j) * d.H + h) * int64_t(N); },
            rows, kRows);
        __pipeline_commit();
    }
    gatherBf16<8>((a.qb ? 0 : nQ) + nS, Qb, [&](int i, float4& v) -> int {
        if (a.qb) i += nQ;
        const int j = (i < nQ ? i : i - nQ) / n4, n = 4 * ((i < nQ ? i : i - nQ) % n4);
        if (i < nQ) {
            v = make_float4(0.f, 0.f, 0.f, 0.f);
            if (j < rows) v = ld4(a.in.q + ((qkBase + j) * d.H + h) * int64_t(N) + n, true);
            return j * L.ldq + n;
        }
        v = ld4(Sin + int64_t(j) * N + n, true);
        return int(Sb - Qb) + j * L.ldq + n;
    });
    if (a.stateIn || a.qb) __pipeline_wait_prior(0);
    scalarsToShared(sc, cnt, false, cs, nullptr, nullptr, nullptr, nullptr, tot);
    warpTiles<FragA, FragBc>(kRows / 16, P / 16, N / 16, Tiles<bf16>{Qb, L.ldq},
                             TilesT<bf16>{Sb, L.ldq}, StoreTiles{Sf, L.lds},
                             [&](int ti, int) { return ti * 16 >= rows; });
    __syncthreads();
    // y += e^{cs_t}·(Q·S_inᵀ), 4 columns a thread and 4 groups in flight.
    const int p4 = P / 4;
    for (int e0 = threadIdx.x; e0 < rows * p4; e0 += 4 * kThreads) {
        float4 yv[4];
        float* yp[4];
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            const int e = e0 + u * kThreads;
            yp[u] = nullptr;
            if (e >= rows * p4) continue;
            const int i = e / p4, p = 4 * (e % p4);
            const int64_t row = b * a.T + t0 + i / R;
            yp[u] = a.y + ((row * R + i % R) * d.H + h) * int64_t(P) + p;
            yv[u] = *reinterpret_cast<const float4*>(yp[u]);
        }
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            if (!yp[u]) continue;
            const int e = e0 + u * kThreads, i = e / p4, p = 4 * (e % p4);
            const float w = expf(cs[i / R]);
            const float* m = Sf + i * L.lds + p;
            *reinterpret_cast<float4*>(yp[u]) = make_float4(yv[u].x + w * m[0], yv[u].y + w * m[1],
                                                            yv[u].z + w * m[2], yv[u].w + w * m[3]);
        }
    }
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
    const dim3 grid(unsigned(a.d.H), unsigned(a.nC), unsigned(batch));
    auto launch = [&](auto kernel) {
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
        kernel<<<grid, kThreads, bytes, s>>>(a);
    };
    if (a.qk.proj)
        launch(phase1Bf16<kQKFromProj>);
    else if (a.qb)
        launch(phase1Bf16<kQKBf16>);
    else
        launch(phase1Bf16<kQKFp32>);
    return cudaGetLastError();
}

cudaError_t launchPhase3Bf16(const ScanArgs& a, int64_t batch, cudaStream_t s) {
    const size_t bytes = layout3(a.d.N, a.d.P, a.qk.proj != nullptr).total;
    cudaFuncSetAttribute(phase3Bf16, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
    phase3Bf16<<<dim3(unsigned(a.d.H), unsigned(a.nC), unsigned(batch)), kThreads, bytes, s>>>(a);
    return cudaGetLastError();
}

}  // namespace lectern::cuda::scan
