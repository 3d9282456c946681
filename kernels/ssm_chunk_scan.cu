// CUDA twin of engine/cpu/ssm_chunk_scan.cpp, in three launches so that every chunk of
// every head runs in parallel (the sequential part is an elementwise pass):
//  1. per (chunk, head, document): the chunk's own outputs (the quadratic form, with the
//     pending k, v of the token before the chunk as R extra key rows) and its state
//     increment G_c = e^{cs_last}·pend + Σ_s e^{cs_last − cs_s} scale_s v_s k_sᵀ;
//  2. per state element: S_in,c = running S; S <- e^{cs_last,c} S + G_c (chunks in order),
//     leaving the final state, and the last token's k, v in the state;
//  3. per (chunk, head, document): y_t += e^{cs_t} S_in,c q_t.
// fp32 throughout; shared-memory rows are padded by one float against bank conflicts.
#include <type_traits>

#include "ssm_chunk_scan_common.cuh"

namespace lectern::cuda {
namespace {

using scan::loadScalars;
using scan::ScanArgs;
using scan::upX;

int chunkTokensFor(int R) {
    return R >= 64 ? 1 : 64 / R;
}

int64_t phase1Floats(const detail::KDims& d, int Ck) {
    const int64_t RR = int64_t(Ck) * d.R, ldn = d.N + 1, ldp = d.P + 1;
    return RR * ldn + (RR + d.R) * ldn + (RR + d.R) * ldp + RR * (RR + d.R) + 6 * Ck + RR + d.R + 4;
}

int64_t phase3Floats(const detail::KDims& d, int Ck) {
    const int64_t RR = int64_t(Ck) * d.R, ldn = d.N + 1;
    return int64_t(d.P) * ldn + RR * ldn + 2 * Ck;
}

// q or k rows of the chunk into smem [cnt·R, N] (row j = t·R + r), stride ldn.
__device__ void loadQK(const ScanArgs& a, const float* src, int64_t b, int h, int64_t t0, int cnt,
                       float* dst) {
    const detail::KDims& d = a.d;
    const int ldn = d.N + 1;
    for (int i = threadIdx.x; i < cnt * d.R * d.N; i += blockDim.x) {
        const int j = i / d.N, n = i % d.N;
        const int64_t row = b * a.T + t0 + j / d.R;
        dst[j * ldn + n] = src[((row * d.R + j % d.R) * d.H + h) * int64_t(d.N) + n];
    }
}

// C(i, j) = Σ_k A(i, k)·B(k, j) over shared memory, i < M, j < Nc, k < K, with
// A(i, k) = A[i·ai + k·ak] and B(k, j) = B[k·bk + j·bj]. The 256 threads form a 16×16
// grid; each computes a 4×4 micro-tile of every 64×64 macro tile (rows ty + 16a, columns
// tx + 16b), so each k costs 8 shared loads for 16 FMAs. Indices past M / Nc are clamped
// for the loads and skipped for the stores; epi(i, j, value) stores.
template <class Epi>
__device__ void tileGemm(int M, int Nc, int K, const float* A, int ai, int ak, const float* B,
                         int bk, int bj, Epi epi) {
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    for (int i0 = 0; i0 < M; i0 += 64) {
        for (int j0 = 0; j0 < Nc; j0 += 64) {
            float acc[4][4];
            const float* ap[4];
            const float* bp[4];
#pragma unroll
            for (int a = 0; a < 4; ++a) {
                ap[a] = A + min(i0 + ty + 16 * a, M - 1) * ai;
                bp[a] = B + min(j0 + tx + 16 * a, Nc - 1) * bj;
#pragma unroll
                for (int b = 0; b < 4; ++b) acc[a][b] = 0.0f;
            }
            for (int k = 0; k < K; ++k) {
                float av[4], bv[4];
#pragma unroll
                for (int a = 0; a < 4; ++a) {
                    av[a] = ap[a][k * ak];
                    bv[a] = bp[a][k * bk];
                }
#pragma unroll
                for (int a = 0; a < 4; ++a)
#pragma unroll
                    for (int b = 0; b < 4; ++b) acc[a][b] += av[a] * bv[b];
            }
#pragma unroll
            for (int a = 0; a < 4; ++a)
#pragma unroll
                for (int b = 0; b < 4; ++b) {
                    const int i = i0 + ty + 16 * a, j = j0 + tx + 16 * b;
                    if (i < M && j < Nc) epi(i, j, acc[a][b]);
                }
        }
    }
}

__global__ void phase1(ScanArgs a) {
    extern __shared__ float sm[];
    const detail::KDims& d = a.d;
    const int c = blockIdx.x, h = blockIdx.y;
    const int64_t b = blockIdx.z, t0 = int64_t(c) * a.Ck;
    const int RR = a.Ck * d.R, ldn = d.N + 1, ldp = d.P + 1;
    float* Qs = sm;
    float* Ks = Qs + RR * ldn;
    float* Vs = Ks + (RR + d.R) * ldn;
    float* Ms = Vs + (RR + d.R) * ldp;
    float* cs = Ms + RR * (RR + d.R);
    float* dtS = cs + a.Ck;
    float* trS = dtS + a.Ck;
    float* scl = trS + a.Ck;
    float* gam = scl + a.Ck;
    float* wG = gam + a.Ck;
    const int cnt = loadScalars(a, b, h, t0, cs, dtS, trS);
    const int rows = cnt * d.R, cols = rows + d.R;
    loadQK(a, a.in.q, b, h, t0, cnt, Qs);
    loadQK(a, a.in.k, b, h, t0, cnt, Ks);
    // Pending rows: the token before the chunk (the state for chunk 0).
    const int64_t prevRow = b * a.T + t0 - 1;
    for (int i = threadIdx.x; i < d.R * d.N; i += blockDim.x) {
        const int r = i / d.N, n = i % d.N;
        Ks[(rows + r) * ldn + n] = c == 0
                                       ? a.st.k[((b * d.R + r) * d.H + h) * int64_t(d.N) + n]
                                       : a.in.k[((prevRow * d.R + r) * d.H + h) * int64_t(d.N) + n];
    }
    for (int i = threadIdx.x; i < cols * d.P; i += blockDim.x) {
        const int j = i / d.P, p = i % d.P;
        const float* xRow;
        if (j < rows)
            xRow = a.in.x + (b * a.T + t0 + j / d.R) * a.in.xStride;
        else if (c == 0)
            xRow = a.st.v + b * d.H * int64_t(d.P);  // [H, P] like an x row
        else
            xRow = a.in.x + prevRow * a.in.xStride;
        Vs[j * ldp + p] = upX(a, xRow, h, j < rows ? j % d.R : j - rows, p);
    }
    for (int s = threadIdx.x; s < cnt; s += blockDim.x) {
        gam[s] = trS[s] * dtS[s];
        scl[s] = gam[s] + (s + 1 < cnt ? (1.0f - trS[s + 1]) * dtS[s + 1] : 0.0f);
    }
    __syncthreads();
    const float pend = (1.0f - trS[0]) * dtS[0], csLast = cs[cnt - 1];
    const int R = d.R;
    // Intra-chunk scores with the decay/trapezoid weights (zero above the diagonal).
    tileGemm(rows, rows, d.N, Qs, ldn, 1, Ks, 1, ldn, [&](int i, int j, float v) {
        const int t = i / R, s2 = j / R;
        const float coef = s2 > t ? 0.0f : expf(cs[t] - cs[s2]) * (s2 < t ? scl[s2] : gam[t]);
        Ms[i * cols + j] = coef * v;
    });
    // The pending (previous-token) columns.
    for (int i = threadIdx.x; i < rows * R; i += blockDim.x) {
        const int iq = i / R, r = i % R;
        float dot = 0.0f;
        for (int n = 0; n < d.N; ++n) dot += Qs[iq * ldn + n] * Ks[(rows + r) * ldn + n];
        Ms[iq * cols + rows + r] = expf(cs[iq / R]) * pend * dot;
    }
    for (int j = threadIdx.x; j < cols; j += blockDim.x)
        wG[j] = j < rows ? expf(csLast - cs[j / R]) * scl[j / R] : expf(csLast) * pend;
    __syncthreads();
    const float Dh = a.in.D[h];
    float* yBase = a.y;
    tileGemm(rows, d.P, cols, Ms, cols, 1, Vs, ldp, 1, [&](int i, int p, float v) {
        const int64_t row = b * a.T + t0 + i / R;
        yBase[((row * R + i % R) * d.H + h) * int64_t(d.P) + p] = v + Dh * Vs[i * ldp + p];
    });
    // Scale the key rows by their state weights (Ks is not needed unscaled any more).
    for (int i = threadIdx.x; i < cols * d.N; i += blockDim.x) {
        const int j = i / d.N, n = i % d.N;
        Ks[j * ldn + n] *= wG[j];
    }
    __syncthreads();
    const int64_t PN = int64_t(d.P) * d.N;
    float* G = a.chunkStates + ((b * d.H + h) * a.nC + c) * PN;
    const int N = d.N;
    tileGemm(d.P, d.N, cols, Vs, 1, ldp, Ks, ldn, 1,
             [&](int p, int n, float v) { G[int64_t(p) * N + n] = v; });
    if (threadIdx.x == 0) a.chunkDecay[(b * d.H + h) * a.nC + c] = expf(csLast);
}

// One or two state elements per thread (kE; two where P·N is even: half the threads, one
// wave at 16k tokens, 8-byte loads). The incoming state S_in,c goes over G_c in fp32, or to
// a.stateIn in bf16 (tensor-core path, kE == 2 only).
template <int kE>
__global__ void phase2(ScanArgs a) {
    const detail::KDims& d = a.d;
    const int h = blockIdx.y;
    const int64_t b = blockIdx.z, PN = int64_t(d.P) * d.N, bh = b * d.H + h;
    const int64_t e = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) * kE;
    if (e < PN) {
        // Loads of 8 chunks are issued before their dependent updates: the chain through S
        // is short, the loads are what take time (seen as ~1800 cycles per instruction).
        using V = std::conditional_t<kE == 2, float2, float>;
        float* __restrict__ slot = a.chunkStates + bh * a.nC * PN + e;
        __nv_bfloat16* __restrict__ out = a.stateIn ? a.stateIn + bh * a.nC * PN + e : nullptr;
        const float* __restrict__ dec = a.chunkDecay + bh * a.nC;
        auto ld = [&](int c) { return *reinterpret_cast<const V*>(slot + int64_t(c) * PN); };
        auto put = [&](int c, const float* S) {
            if constexpr (kE == 2) {
                if (out)
                    *reinterpret_cast<__nv_bfloat162*>(out + int64_t(c) * PN) =
                        __floats2bfloat162_rn(S[0], S[1]);
                else
                    *reinterpret_cast<float2*>(slot + int64_t(c) * PN) = make_float2(S[0], S[1]);
            } else {
                slot[int64_t(c) * PN] = S[0];
            }
        };
        auto step = [&](float* S, const V& g, float dd) {
            if constexpr (kE == 2) {
                S[0] = dd * S[0] + g.x;
                S[1] = dd * S[1] + g.y;
            } else {
                S[0] = dd * S[0] + g;
            }
        };
        float S[kE];
#pragma unroll
        for (int u = 0; u < kE; ++u) S[u] = a.st.ssm[bh * PN + e + u];
        int c = 0;
        for (; c + 8 <= a.nC; c += 8) {
            V g[8];
            float dd[8];
#pragma unroll
            for (int u = 0; u < 8; ++u) {
                g[u] = ld(c + u);
                dd[u] = dec[c + u];
            }
#pragma unroll
            for (int u = 0; u < 8; ++u) {
                put(c + u, S);
                step(S, g[u], dd[u]);
            }
        }
        for (; c < a.nC; ++c) {
            const V g = ld(c);
            put(c, S);
            step(S, g, dec[c]);
        }
#pragma unroll
        for (int u = 0; u < kE; ++u) a.st.ssm[bh * PN + e + u] = S[u];
    }
    if (blockIdx.x == 0) {  // the last token's k and x become the pending pair
        const int64_t last = b * a.T + a.T - 1;
        __shared__ float stage[8 * scan::kMaxStageN];
        const int warp = threadIdx.x >> 5;
        for (int r = warp; a.qk.proj && r < d.R; r += 8)
            scan::qkRowFromProj(a, false, last, r, h, stage + warp * d.N, [&](int n, float v) {
                a.st.k[((b * d.R + r) * d.H + h) * int64_t(d.N) + n] = v;
            });
        for (int i = threadIdx.x; !a.qk.proj && i < d.R * d.N; i += blockDim.x) {
            const int r = i / d.N, n = i % d.N;
            a.st.k[((b * d.R + r) * d.H + h) * int64_t(d.N) + n] =
                a.in.k[((last * d.R + r) * d.H + h) * int64_t(d.N) + n];
        }
        for (int p = threadIdx.x; p < d.P; p += blockDim.x)
            a.st.v[bh * d.P + p] = a.in.x[last * a.in.xStride + int64_t(h) * d.P + p];
    }
}

__global__ void phase3(ScanArgs a) {
    extern __shared__ float sm[];
    const detail::KDims& d = a.d;
    const int c = blockIdx.x, h = blockIdx.y;
    const int64_t b = blockIdx.z, t0 = int64_t(c) * a.Ck, PN = int64_t(d.P) * d.N;
    const int RR = a.Ck * d.R, ldn = d.N + 1;
    float* Ss = sm;
    float* Qs = Ss + d.P * ldn;
    float* cs = Qs + RR * ldn;
    const int cnt = loadScalars(a, b, h, t0, cs, nullptr, nullptr);
    const int rows = cnt * d.R;
    const float* Sin = a.chunkStates + ((b * d.H + h) * a.nC + c) * PN;
    for (int i = threadIdx.x; i < PN; i += blockDim.x) Ss[(i / d.N) * ldn + i % d.N] = Sin[i];
    loadQK(a, a.in.q, b, h, t0, cnt, Qs);
    __syncthreads();
    const int R = d.R;
    float* yBase = a.y;
    tileGemm(rows, d.P, d.N, Qs, ldn, 1, Ss, 1, ldn, [&](int i, int p, float v) {
        const int64_t row = b * a.T + t0 + i / R;
        yBase[((row * R + i % R) * d.H + h) * int64_t(d.P) + p] += expf(cs[i / R]) * v;
    });
}

}  // namespace

int ssm_chunk_tokens(const ops::Mamba3Dims& d) {
    return chunkTokensFor(d.R);
}

bool ssm_chunk_scan_bf16_fits(const ops::Mamba3Dims& d) {
    return scan::bf16Fits(detail::kdims(d), chunkTokensFor(d.R));
}

int64_t ssm_chunk_scan_workspace_floats(const ops::Mamba3Dims& d, int64_t batch, int64_t T) {
    const int64_t nC = (T + chunkTokensFor(d.R) - 1) / chunkTokensFor(d.R);
    return batch * d.H * nC * (int64_t(d.P) * d.N + 1);
}

cudaError_t ssm_chunk_scan_forward(const ops::Mamba3Dims& dims, const ops::SsmScanInputs& in,
                                   int64_t batch, int64_t T, float* y, const ops::SsmStateRef& st,
                                   const ScanWorkspace& ws, cudaStream_t s, ScanMath math,
                                   const QKFromProj* qkFromProj) {
    if (batch <= 0 || T <= 0) return cudaSuccess;
    ScanArgs a{detail::kdims(dims), in, st, y, nullptr, nullptr, T, chunkTokensFor(dims.R), 0, {}};
    a.nC = int((T + a.Ck - 1) / a.Ck);
    // The tensor-core phases load q, k, mimoX and store y 16 bytes at a time.
    auto a16 = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
    const bool tensorCores = math == ScanMath::Bf16 && scan::bf16Fits(a.d, a.Ck) && a.nC < 65536 &&
                             a16(in.q) && a16(in.k) && a16(y) && a16(in.mimoX);
    if (ws.qkBf16 && (!tensorCores || qkFromProj || !a16(ws.qkBf16)))
        return cudaErrorInvalidValue;  // in.q, in.k do not hold q and k then
    if (qkFromProj) {
        if (!tensorCores || !qkFromProj->proj || !qkFromProj->theta) return cudaErrorInvalidValue;
        a.qk = *qkFromProj;
    }
    const int64_t PN = int64_t(dims.P) * dims.N;
    if (ws.floats < batch * dims.H * a.nC * (PN + 1)) return cudaErrorInvalidValue;
    a.chunkStates = ws.chunkStates;
    a.chunkDecay = ws.chunkDecay;
    const dim3 grid(unsigned(a.nC), unsigned(dims.H), unsigned(batch));
    // Two state elements a thread where P·N is even (both chunkStates slots and the state
    // rows then start 8-byte aligned; the workspace and states are cudaMalloc'd).
    const bool pairs = PN % 2 == 0 && reinterpret_cast<uintptr_t>(ws.chunkStates) % 8 == 0 &&
                       reinterpret_cast<uintptr_t>(st.ssm) % 8 == 0;
    const dim3 grid2(detail::gridFor(pairs ? PN / 2 : PN, 256), unsigned(dims.H), unsigned(batch));
    auto launch2 = [&] {
        if (pairs)
            phase2<2><<<grid2, 256, 0, s>>>(a);
        else
            phase2<1><<<grid2, 256, 0, s>>>(a);
    };
    if (tensorCores) {
        if (pairs && ws.stateInBf16 && reinterpret_cast<uintptr_t>(ws.stateInBf16) % 16 == 0)
            a.stateIn = static_cast<__nv_bfloat16*>(ws.stateInBf16);
        if (ws.qkBf16) {
            a.qb = static_cast<const __nv_bfloat16*>(ws.qkBf16);
            a.kb = a.qb + batch * T * dims.R * dims.H * dims.N;
        }
        if (cudaError_t e = scan::launchPhase1Bf16(a, batch, s); e != cudaSuccess) return e;
        launch2();
        if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
        return scan::launchPhase3Bf16(a, batch, s);
    }
    const size_t b1 = size_t(phase1Floats(a.d, a.Ck)) * 4, b3 = size_t(phase3Floats(a.d, a.Ck)) * 4;
    if (b1 > size_t(scan::maxSharedOptin()) || b3 > size_t(scan::maxSharedOptin()))
        return cudaErrorInvalidValue;
    cudaFuncSetAttribute(phase1, cudaFuncAttributeMaxDynamicSharedMemorySize, int(b1));
    cudaFuncSetAttribute(phase3, cudaFuncAttributeMaxDynamicSharedMemorySize, int(b3));
    phase1<<<grid, 256, b1, s>>>(a);
    launch2();
    phase3<<<grid, 256, b3, s>>>(a);
    return cudaGetLastError();
}

}  // namespace lectern::cuda
