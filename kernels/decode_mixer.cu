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
#include "decode_pdl.cuh"

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

// kMinBlocks 2 caps the registers at 64 (DecodeMixerParams::compact) so that two blocks
// share a multiprocessor: at batch 16 (1,024 blocks streaming 64 MB of state a layer) one
// block an SM left the memory idle through each block's serial q/k and gate work (73
// registers: 4.23 ms a step against 3.69). At batch 1 it lets the mixer start beside two
// bulk-GEMV blocks of in_proj (decode_launch_options).
template <int kNJ, int kRPW, int kMinBlocks>
__global__ void __launch_bounds__(kThreads, kMinBlocks)
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
    float* sc = yS + d.P;  // [4]: alpha, beta, gamma

    // Before pdlWait: only this block's recurrent state, which no kernel of this step has
    // written yet (decode_pdl.cuh's rule). The state rows of this warp go to registers.
    float* S = prm.st.ssm + (b * d.H + h) * int64_t(d.P) * d.N;
    float sv[kRPW][kNJ];
#pragma unroll
    for (int i = 0; i < kRPW; ++i) {
        const int p = warp + i * kWarps;
#pragma unroll
        for (int j = 0; j < kNJ; ++j)
            if (p < d.P && lane + 32 * j < d.N) sv[i][j] = S[int64_t(p) * d.N + lane + 32 * j];
    }
    const int qkStride = d.H * d.N;  // R == 1
    if (int(threadIdx.x) < d.N) kP[threadIdx.x] = prm.st.k[b * qkStride + h * d.N + threadIdx.x];
    if (int(threadIdx.x) < d.P)
        xP[threadIdx.x] = prm.st.v[(b * d.H + h) * int64_t(d.P) + threadIdx.x];
    // Warps 0 (q) and 1 (k) each advance the running angles of the pairs their lanes rotate
    // (lane n rotates pair n / 2 for n < 2A), so no barrier sits between the angles and q/k.
    float* angRow = prm.angle + b * int64_t(d.H) * d.A + int64_t(h) * d.A;
    float angOld[kNJ], angNew[kNJ];
    if (warp < 2) {
#pragma unroll
        for (int j = 0; j < kNJ; ++j) {
            const int n = lane + 32 * j;
            angOld[j] = n < 2 * d.A ? angRow[n / 2] : 0.0f;
        }
    }
    detail::pdlLaunchDependents();
    detail::pdlWait();  // in_proj's row is complete from here on

    const float* row = prm.proj + b * d.dInProj;
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
    if (int(threadIdx.x) < d.P) xC[threadIdx.x] = row[d.offX + int64_t(h) * d.P + threadIdx.x];
    const float Dh = prm.D[h];
    // q (warp 0, from C) and k (warp 1, from B): normRow's maths for rank 0, then the
    // rotation (rotary_angles' add-and-wrap of one token, then sincos), the partner of each
    // pair from the neighbouring lane.
    if (warp < 2) {
        const bool isC = warp == 0;
        const int g = h / (d.H / d.G);
        const float* src = row + (isC ? d.offC : d.offB) + int64_t(g) * d.N;
        const float* normW = isC ? prm.pre.cNorm : prm.pre.bNorm;
        const float* bh = (isC ? prm.pre.cBias : prm.pre.bBias) + int64_t(h) * d.N;
        float x[kNJ], nw[kNJ], bb[kNJ], inc[kNJ];
#pragma unroll
        for (int j = 0; j < kNJ; ++j) {
            const int n = lane + 32 * j;
            const bool in = n < d.N;
            x[j] = in ? src[n] : 0.0f;
            nw[j] = in ? normW[n] : 0.0f;
            bb[j] = in ? bh[n] : 0.0f;
            inc[j] = n < 2 * d.A ? row[d.offAngles + n / 2] : 0.0f;
        }
        float ss = 0.0f;
#pragma unroll
        for (int j = 0; j < kNJ; ++j) ss += x[j] * x[j];
        const float scale = rsqrtf(detail::warpSum(ss) / float(d.N) + d.eps);
        float* dst = isC ? qS : kS;
#pragma unroll
        for (int j = 0; j < kNJ; ++j) {
            const int n = lane + 32 * j;
            float v = x[j] * scale * nw[j] + bb[j];
            const float w = __shfl_xor_sync(0xffffffffu, v, 1);  // pair partner n ^ 1
            if (n < 2 * d.A) {
                const float twoPi = 2.0f * detail::kPi;
                const float u = angOld[j] + tanhf(inc[j]) * detail::kPi * dth;
                angNew[j] = u - twoPi * floorf(u / twoPi);
                float sn, cs;
                sincosf(angNew[j], &sn, &cs);
                v = (n & 1) == 0 ? v * cs - w * sn : w * sn + v * cs;
            }
            if (n < d.N) dst[n] = v;
        }
    }
    // The gate's operands (warp 2; P <= 128: 4 a lane), loaded while q/k are made.
    constexpr int kGateWarp = 2;
    float zr[4], onr[4];
    const float* z = row + d.offZ + int64_t(h) * d.P;
    if (warp == kGateWarp) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int p = lane + 32 * i;
            zr[i] = p < d.P ? z[p] : 0.0f;
            onr[i] = p < d.P && prm.outNorm != nullptr ? prm.outNorm[int64_t(h) * d.P + p] : 1.0f;
        }
    }
    __syncthreads();  // q, k, x, the previous k and x, scalars ready
    // The advanced angles, written only now: warp 1 read the old ones before the barrier.
    if (warp == 0) {
#pragma unroll
        for (int j = 0; j < kNJ; ++j) {
            const int n = lane + 32 * j;
            if (n < 2 * d.A && (n & 1) == 0) angRow[n / 2] = angNew[j];
        }
    }
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
        if (lane == 0) yS[p] = v + Dh * xC[p];
    }
    __syncthreads();  // every row read kP / xP; y complete
    if (int(threadIdx.x) < d.N) prm.st.k[b * qkStride + h * d.N + threadIdx.x] = kS[threadIdx.x];
    if (int(threadIdx.x) < d.P)
        prm.st.v[(b * d.H + h) * int64_t(d.P) + threadIdx.x] = xC[threadIdx.x];
    // The gate (mamba3_gate.cu for R == 1) over the head's P values.
    if (warp == kGateWarp) {
        float scale = 1.0f;
        if (prm.outNorm != nullptr) {
            float ss = 0.0f;
            for (int p = lane; p < d.P; p += 32) ss += yS[p] * yS[p];
            scale = rsqrtf(detail::warpSum(ss) / float(d.P) + d.eps);
        }
        float* o = prm.gated + b * d.dInner + int64_t(h) * d.P;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int p = lane + 32 * i;
            if (p >= d.P) break;
            float v = yS[p] * scale;
            if (prm.outNorm != nullptr) v *= onr[i];
            v *= detail::siluf(zr[i]);
            o[p] = v;
        }
    }
}

template <int kNJ, int kRPW>
void launch(const ops::Mamba3Dims& d, const DecodeMixerParams& p, int batch, cudaStream_t s) {
    const size_t smem = size_t(3 * d.N + 3 * d.P + 4) * sizeof(float);
    const dim3 grid(unsigned(d.H), unsigned(batch));
    // Only the 16-values-a-thread tile fits 64 registers without spilling.
    constexpr int kTwo = kNJ * kRPW <= 16 ? 2 : 1;
    if (kTwo == 2 && p.compact)
        detail::launchMaybePdl(p.pdl, decodeMixerKernel<kNJ, kRPW, kTwo>, grid, dim3(kThreads),
                               smem, s, detail::kdims(d), p);
    else
        detail::launchMaybePdl(p.pdl, decodeMixerKernel<kNJ, kRPW, 1>, grid, dim3(kThreads), smem,
                               s, detail::kdims(d), p);
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
