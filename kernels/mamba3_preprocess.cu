// CUDA twin of engine/cpu/mamba3_preprocess.cpp. One block per token row: warps take the
// (r, g) rows of C (-> q) and B (-> k), RMSNorm each over N with a warp reduction and
// write it to the group's heads with the per-head bias; then the block's threads do the
// per-head scalars (dt, A·dt, trap) and the angle increments.
#include "common.cuh"
#include "cuda/cuda_ops.h"

namespace lectern::cuda {
namespace {

__device__ float softplusF(float u) {
    return u > 20.0f ? u : log1pf(expf(u));  // torch's threshold 20, as the CPU twin
}

__device__ float heavyTailF(float u) {
    return u >= 0.0f ? 1.0f + u : 1.0f / (1.0f - u);
}

// Row `j` of the 2·R·G source rows (j < R·G: C rows -> q, the rest B rows -> k), written
// to head `hh` of its group. One warp per (row, head) so that all warps share the
// broadcast; the N-long norm is recomputed per head (cheap, and the row stays in L1).
__device__ void normRow(const detail::KDims& d, const ops::Mamba3PreprocessParams& p,
                        const float* projRow, int j, int hh, float* q, float* k) {
    const int RG = d.R * d.G, lane = threadIdx.x & 31;
    const bool isC = j < RG;
    const int rg = isC ? j : j - RG, r = rg / d.G, g = rg % d.G;
    const float* src = projRow + (isC ? d.offC : d.offB) + int64_t(rg) * d.N;
    float ss = 0.0f;
    for (int n = lane; n < d.N; n += 32) ss += src[n] * src[n];
    const float scale = rsqrtf(detail::warpSum(ss) / float(d.N) + d.eps);
    const float* normW = isC ? p.cNorm : p.bNorm;
    const float* bias = isC ? p.cBias : p.bBias;
    float* dst = isC ? q : k;
    const int hpg = d.H / d.G;
    const int h = g * hpg + hh;
    for (int n = lane; n < d.N; n += 32)
        dst[(int64_t(r) * d.H + h) * d.N + n] =
            src[n] * scale * normW[n] + bias[(int64_t(h) * d.R + r) * d.N + n];
}

__global__ void preprocessKernel(detail::KDims d, ops::Mamba3PreprocessParams p, const float* proj,
                                 float* q, float* k, float* dt, float* adt, float* trap,
                                 float* dtheta) {
    const int64_t t = blockIdx.x;
    const float* row = proj + t * d.dInProj;
    const int64_t qkStride = int64_t(d.R) * d.H * d.N;
    const int warp = threadIdx.x >> 5, nWarps = blockDim.x >> 5;
    // Few rows (decode): gridDim.y blocks share a row's work.
    const int hpg = d.H / d.G, part = blockIdx.y, parts = gridDim.y;
    for (int w = part * nWarps + warp; w < 2 * d.R * d.G * hpg; w += nWarps * parts)
        normRow(d, p, row, w / hpg, w % hpg, q + t * qkStride, k + t * qkStride);
    for (int i = part * blockDim.x + threadIdx.x; i < d.H * (1 + d.A); i += blockDim.x * parts) {
        const int h = i % d.H, a = i / d.H - 1;  // a == -1: the scalars of head h
        const float dth = softplusF(row[d.offDt + h] + p.dtBias[h]);
        if (a < 0) {
            const float aa = fminf(-heavyTailF(row[d.offA + h]), -d.aFloor);
            dt[t * d.H + h] = dth;
            adt[t * d.H + h] = aa * dth;
            trap[t * d.H + h] = 1.0f / (1.0f + expf(-row[d.offTrap + h]));
        } else {
            dtheta[(t * d.H + h) * d.A + a] = tanhf(row[d.offAngles + a]) * detail::kPi * dth;
        }
    }
}

}  // namespace

void mamba3_preprocess_forward(const ops::Mamba3Dims& d, const ops::Mamba3PreprocessParams& p,
                               const float* proj, int64_t rows, float* q, float* k, float* dt,
                               float* adt, float* trap, float* dtheta, cudaStream_t s) {
    if (rows <= 0) return;
    const unsigned parts = rows < 64 ? 16 : 1;
    preprocessKernel<<<dim3(unsigned(rows), parts), 256, 0, s>>>(detail::kdims(d), p, proj, q, k,
                                                                 dt, adt, trap, dtheta);
}

}  // namespace lectern::cuda
