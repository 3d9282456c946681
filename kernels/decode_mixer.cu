// The decode step's whole mixer after in_proj in one launch (SISO): one block per (head,
// document) does what five launches did before (preprocess scalars, the running angles,
// q/k RMSNorm + bias + rotation, the state step with the D skip, the gate with its
// head-wise norm). At batch 1 the step is ~12 launches a layer of a few µs each, so the
// launches, not the bytes, set the time (NOTES-gpu.md). Each block issues the loads of its
// head's state rows first (registers), so their latency overlaps the preprocessing.
// Arithmetic: operation for operation as mamba3_preprocess.cu (normRow, scalars),
// rotary_angles.cu (one segment), ssm_step.cu and mamba3_gate.cu, so that the fused and
// unfused paths agree to fp32 rounding (the test states the tolerance).
#include "common.cuh"
#include "cuda/cuda_ops.h"

namespace lectern::cuda {
namespace {

constexpr int kThreads = 512;  // 16 warps
constexpr int kWarps = kThreads / 32;
constexpr int kMaxRowsPerWarp = 8;  // P <= 128
constexpr int kMaxNJ = 8;           // N <= 256 (N / 32 values a lane)
constexpr int kMaxRegs = 32;        // rows per warp × N / 32, checked on the host

__device__ float softplusF(float u) {
    return u > 20.0f ? u : log1pf(expf(u));
}

__device__ float heavyTailF(float u) {
    return u >= 0.0f ? 1.0f + u : 1.0f / (1.0f - u);
}

template <int kNJ, int kRPW>
__global__ void __launch_bounds__(kThreads)
    decodeMixerKernel(detail::KDims d, DecodeMixerParams prm) {
    extern __shared__ float sm[];
    const int h = blockIdx.x;
    const int64_t b = blockIdx.y;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    float* qS = sm;        // [N] rotated q (from C)
    float* kS = qS + d.N;  // [N] rotated k (from B)
    float* kP = kS + d.N;  // [N] the previous token's k
    float* xC = kP + d.N;  // [P] this token's x
    float* xP = xC + d.P;  // [P] the previous token's x
    float* yS = xP + d.P;  // [P]
    float* cs = yS + d.P;  // [A] cos, then [A] sin
    float* sn = cs + d.A;
    float* sc = sn + d.A;  // [4]: alpha, beta, gamma, dt

    float* S = prm.st.ssm + (b * d.H + h) * int64_t(d.P) * d.N;
    // The state rows of this warp, loads issued before anything else.
    float sv[kRPW][kNJ];
#pragma unroll
    for (int i = 0; i < kRPW; ++i) {
        const int p = warp + i * kWarps;
#pragma unroll
        for (int j = 0; j < kNJ; ++j)
            if (p < d.P && lane + 32 * j < d.N) sv[i][j] = S[int64_t(p) * d.N + lane + 32 * j];
    }

    const float* row = prm.proj + b * d.dInProj;
    const int64_t HA = int64_t(d.H) * d.A;
    const float dth = softplusF(row[d.offDt + h] + prm.pre.dtBias[h]);
    if (threadIdx.x == 0) {
        const float aa = fminf(-heavyTailF(row[d.offA + h]), -d.aFloor);
        const float adt = aa * dth;
        const float trap = 1.0f / (1.0f + expf(-row[d.offTrap + h]));
        const float alpha = expf(adt);
        sc[0] = alpha;
        sc[1] = (1.0f - trap) * dth * alpha;
        sc[2] = trap * dth;
    }
    // The running angles: one token of rotary_angles' own sequence (add, wrap).
    for (int a = threadIdx.x; a < d.A; a += kThreads) {
        float* ang = prm.angle + b * HA + int64_t(h) * d.A + a;
        const float inc = tanhf(row[d.offAngles + a]) * detail::kPi * dth;
        const float twoPi = 2.0f * detail::kPi;
        const float u = *ang + inc;
        const float theta = u - twoPi * floorf(u / twoPi);
        *ang = theta;
        sincosf(theta, &sn[a], &cs[a]);
    }
    const int qkStride = d.H * d.N;  // R == 1
    for (int i = threadIdx.x; i < d.N; i += kThreads) kP[i] = prm.st.k[b * qkStride + h * d.N + i];
    for (int p = threadIdx.x; p < d.P; p += kThreads) {
        xC[p] = row[d.offX + int64_t(h) * d.P + p];
        xP[p] = prm.st.v[(b * d.H + h) * int64_t(d.P) + p];
    }
    __syncthreads();  // cos/sin ready
    // q (warp 0, from C) and k (warp 1, from B): normRow's maths for rank 0.
    if (warp < 2) {
        const bool isC = warp == 0;
        const int g = h / (d.H / d.G);
        const float* src = row + (isC ? d.offC : d.offB) + int64_t(g) * d.N;
        float ss = 0.0f;
        for (int n = lane; n < d.N; n += 32) ss += src[n] * src[n];
        const float scale = rsqrtf(detail::warpSum(ss) / float(d.N) + d.eps);
        const float* normW = isC ? prm.pre.cNorm : prm.pre.bNorm;
        const float* bh = (isC ? prm.pre.cBias : prm.pre.bBias) + int64_t(h) * d.N;
        float* dst = isC ? qS : kS;
        for (int n = lane; n < d.N; n += 32) {
            float v = src[n] * scale * normW[n] + bh[n];
            if (n < 2 * d.A) {
                const int a = n / 2, partner = n ^ 1;
                const bool first = (n & 1) == 0;
                const float w = src[partner] * scale * normW[partner] + bh[partner];
                v = first ? v * cs[a] - w * sn[a] : w * sn[a] + v * cs[a];
            }
            dst[n] = v;
        }
    }
    __syncthreads();
    const float alpha = sc[0], beta = sc[1], gamma = sc[2];
#pragma unroll
    for (int i = 0; i < kRPW; ++i) {
        const int p = warp + i * kWarps;
        if (p >= d.P) break;
        float* Sp = S + int64_t(p) * d.N;
        float acc = 0.0f;
#pragma unroll
        for (int j = 0; j < kNJ; ++j) {
            const int n = lane + 32 * j;
            if (n >= d.N) break;
            float s = alpha * sv[i][j];
            s += beta * xP[p] * kP[n] + gamma * xC[p] * kS[n];
            Sp[n] = s;
            acc += s * qS[n];
        }
        const float v = detail::warpSum(acc);
        if (lane == 0) yS[p] = v + prm.D[h] * xC[p];
    }
    __syncthreads();  // every row read kP / xP; y complete
    for (int i = threadIdx.x; i < d.N; i += kThreads) prm.st.k[b * qkStride + h * d.N + i] = kS[i];
    for (int p = threadIdx.x; p < d.P; p += kThreads)
        prm.st.v[(b * d.H + h) * int64_t(d.P) + p] = xC[p];
    // The gate (mamba3_gate.cu for R == 1): warp 0 over the head's P values.
    if (warp == 0) {
        float scale = 1.0f;
        if (prm.outNorm != nullptr) {
            float ss = 0.0f;
            for (int p = lane; p < d.P; p += 32) ss += yS[p] * yS[p];
            scale = rsqrtf(detail::warpSum(ss) / float(d.P) + d.eps);
        }
        const float* z = row + d.offZ + int64_t(h) * d.P;
        float* o = prm.gated + b * d.dInner + int64_t(h) * d.P;
        for (int p = lane; p < d.P; p += 32) {
            float v = yS[p] * scale;
            if (prm.outNorm != nullptr) v *= prm.outNorm[int64_t(h) * d.P + p];
            v *= detail::siluf(z[p]);
            o[p] = v;
        }
    }
}

template <int kNJ, int kRPW>
void launch(const ops::Mamba3Dims& d, const DecodeMixerParams& p, int batch, cudaStream_t s) {
    const size_t smem = size_t(3 * d.N + 3 * d.P + 2 * d.A + 4) * sizeof(float);
    decodeMixerKernel<kNJ, kRPW>
        <<<dim3(unsigned(d.H), unsigned(batch)), kThreads, smem, s>>>(detail::kdims(d), p);
}

}  // namespace

bool decode_mixer_fits(const ops::Mamba3Dims& d) {
    const int nj = (d.N + 31) / 32, rpw = (d.P + kWarps - 1) / kWarps;
    return d.R == 1 && !d.mimo && d.G >= 1 && d.H % d.G == 0 && d.N <= 32 * kMaxNJ &&
           rpw <= kMaxRowsPerWarp && nj * rpw <= kMaxRegs && 2 * d.A <= d.N;
}

cudaError_t decode_mixer_forward(const ops::Mamba3Dims& d, const DecodeMixerParams& p, int batch,
                                 cudaStream_t s) {
    if (batch <= 0) return cudaSuccess;
    if (!decode_mixer_fits(d) || batch > 65535) return cudaErrorInvalidValue;
    const int nj = (d.N + 31) / 32, rpw = (d.P + kWarps - 1) / kWarps;
    // The register tile sized to the dims (the benchmark model: N 128, P 64 -> 4 × 4).
    if (nj <= 4 && rpw <= 4)
        launch<4, 4>(d, p, batch, s);
    else if (nj <= 8 && rpw <= 4)
        launch<8, 4>(d, p, batch, s);
    else if (nj <= 4 && rpw <= 8)
        launch<4, 8>(d, p, batch, s);
    else
        return cudaErrorInvalidValue;
    return cudaGetLastError();
}

}  // namespace lectern::cuda
