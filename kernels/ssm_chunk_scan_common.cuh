// What the chunked scan's launches share (kernels/ssm_chunk_scan.cu holds the fp32 phases
// and the inter-chunk pass, ssm_chunk_scan_bf16.cu the tensor-core phases): the launch
// arguments, the per-chunk scalar loads and the MIMO up-projection of x.
#pragma once

#include <cuda_bf16.h>

#include "common.cuh"
#include "cuda/cuda_ops.h"

namespace lectern::cuda::scan {

struct ScanArgs {
    detail::KDims d;
    ops::SsmScanInputs in;
    ops::SsmStateRef st;
    float* y;
    float* chunkStates;
    float* chunkDecay;
    int64_t T;
    int Ck, nC;
    QKFromProj qk;  // used when qk.proj is set (bf16 path)
    // Tensor-core path: phase 2 writes each chunk's incoming state here (bf16) when set,
    // else over chunkStates (fp32).
    __nv_bfloat16* stateIn = nullptr;
    // Tensor-core path: q and k in bf16 (ScanWorkspace::qkBf16) when set, else in.q, in.k.
    const __nv_bfloat16* qb = nullptr;
    const __nv_bfloat16* kb = nullptr;
};

// Row r of token row `tok` of q (isQ) or k for head h, made as mamba3_qk_rotated_forward
// makes it: RMSNorm over N, weight, per-head bias, the (i0, i1) pairs rotated by theta.
// One warp; `stage` holds N floats of this warp's; out(n, value) stores.
template <class Out>
__device__ void qkRowFromProj(const ScanArgs& a, bool isQ, int64_t tok, int r, int h, float* stage,
                              Out out) {
    const detail::KDims& d = a.d;
    const int lane = threadIdx.x & 31, g = h / (d.H / d.G);
    const float* src =
        a.qk.proj + tok * d.dInProj + (isQ ? d.offC : d.offB) + int64_t(r * d.G + g) * d.N;
    float ss = 0.0f;
    for (int n = lane; n < d.N; n += 32) {
        const float v = src[n];
        stage[n] = v;
        ss += v * v;
    }
    const float scale = rsqrtf(detail::warpSum(ss) / float(d.N) + d.eps);
    const float* w = isQ ? a.qk.p.cNorm : a.qk.p.bNorm;
    const float* bias = (isQ ? a.qk.p.cBias : a.qk.p.bBias) + (int64_t(h) * d.R + r) * d.N;
    for (int n = lane; n < d.N; n += 32) stage[n] = stage[n] * scale * w[n] + bias[n];
    __syncwarp();
    const float* th = a.qk.theta + tok * d.H * d.A + int64_t(h) * d.A;
    for (int n = lane; n < d.N; n += 32) {
        float v = stage[n];
        int an = -1, partner = 0;
        bool first = true;
        if (d.mimo) {
            const int half = d.N / 2;
            if (n < d.A) {
                an = n;
                partner = n + half;
            } else if (n >= half && n < half + d.A) {
                an = n - half;
                partner = an;
                first = false;
            }
        } else if (n < 2 * d.A) {
            an = n / 2;
            partner = n ^ 1;
            first = (n & 1) == 0;
        }
        if (an >= 0) {
            const float u = stage[partner];
            float sn, cs;
            sincosf(th[an], &sn, &cs);
            v = first ? v * cs - u * sn : u * sn + v * cs;
        }
        out(n, v);
    }
    __syncwarp();  // the stage is reused by the warp's next row
}

// Loads the chunk's adt/dt/trap (parallel), then the in-chunk cumulative sum of adt.
__device__ inline int loadScalars(const ScanArgs& a, int64_t b, int h, int64_t t0, float* cs,
                                  float* dtS, float* trS) {
    const int64_t rem = a.T - t0;
    const int cnt = int(rem < a.Ck ? rem : int64_t(a.Ck));
    for (int s = threadIdx.x; s < cnt; s += blockDim.x) {
        const int64_t i = (b * a.T + t0 + s) * a.d.H + h;
        cs[s] = a.in.adt[i];
        if (dtS) dtS[s] = a.in.dt[i];
        if (trS) trS[s] = a.in.trap[i];
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double run = 0.0;
        for (int s = 0; s < cnt; ++s) {
            run += cs[s];
            cs[s] = float(run);
        }
    }
    __syncthreads();
    return cnt;
}

__device__ inline float upX(const ScanArgs& a, const float* xRow, int h, int r, int p) {
    const float v = xRow[int64_t(h) * a.d.P + p];
    return a.in.mimoX ? v * a.in.mimoX[(int64_t(h) * a.d.R + r) * a.d.P + p] : v;
}

// Longest row phase 2 stages when it makes the last token's k from in_proj rows.
constexpr int kMaxStageN = 256;

// The tensor-core phases (bf16 operands, fp32 accumulation; ssm_chunk_scan_bf16.cu).
// bf16Fits: whether the dims suit them (N and P multiples of 16, ≤ 64 rows per chunk,
// shared memory within the device's limit); the launches return the launch error.
bool bf16Fits(const detail::KDims& d, int Ck);  // also: N <= kMaxStageN, nC < 65536
cudaError_t launchPhase1Bf16(const ScanArgs& a, int64_t batch, cudaStream_t s);
cudaError_t launchPhase3Bf16(const ScanArgs& a, int64_t batch, cudaStream_t s);

// The device's opt-in shared memory per block (the scan kernels' layouts are checked
// against it before launch); read once.
inline int maxSharedOptin() {
    static int v = [] {
        int dev = 0, n = 0;
        cudaGetDevice(&dev);
        cudaDeviceGetAttribute(&n, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
        return n;
    }();
    return v;
}

}  // namespace lectern::cuda::scan
