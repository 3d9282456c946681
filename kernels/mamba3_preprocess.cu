// CUDA twin of engine/cpu/mamba3_preprocess.cpp. One block per token row: warps take the
// (r, g) rows of C (-> q) and B (-> k), RMSNorm each over N with a warp reduction and
// write it to the group's heads with the per-head bias; then the block's threads do the
// per-head scalars (dt, A·dt, trap) and the angle increments. The model's fused path
// splits this in two launches around rotary_theta_forward: the scalars and increments
// first, then q and k normalised and rotated by the running angles in one write.
#include <cuda_bf16.h>

#include "common.cuh"
#include "cuda/cuda_ops.h"
#include "mamba3_scalars.cuh"

namespace lectern::cuda {
namespace {

using detail::heavyTailF;
using detail::softplusF;

// Row `j` of the 2·R·G source rows (j < R·G: C rows -> q, the rest B rows -> k), written
// to head `hh` of its group. One warp per (row, head) so that all warps share the
// broadcast; the N-long norm is recomputed per head (cheap, and the row stays in L1).
// theta (optional, the row's running angles [H, A]): rotate the (i0, i1) pairs as
// rotary_angles does, each lane computing its element's partner too (fused path).
__device__ void normRow(const detail::KDims& d, const ops::Mamba3PreprocessParams& p,
                        const float* projRow, int j, int hh, float* q, float* k,
                        const float* theta) {
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
    const float* bh = bias + (int64_t(h) * d.R + r) * d.N;
    for (int n = lane; n < d.N; n += 32) {
        float v = src[n] * scale * normW[n] + bh[n];
        int a = -1, partner = 0;
        bool first = true;
        if (theta && d.mimo) {
            const int half = d.N / 2;
            if (n < d.A) {
                a = n;
                partner = n + half;
            } else if (n >= half && n < half + d.A) {
                a = n - half;
                partner = a;
                first = false;
            }
        } else if (theta && n < 2 * d.A) {
            a = n / 2;
            partner = n ^ 1;
            first = (n & 1) == 0;
        }
        if (a >= 0) {
            const float w = src[partner] * scale * normW[partner] + bh[partner];
            float sn, cs;
            sincosf(theta[int64_t(h) * d.A + a], &sn, &cs);
            v = first ? v * cs - w * sn : w * sn + v * cs;
        }
        dst[(int64_t(r) * d.H + h) * d.N + n] = v;
    }
}

// doQK / doScalars: which outputs this launch makes (both: the CPU twin's contract).
__global__ void preprocessKernel(detail::KDims d, ops::Mamba3PreprocessParams p, const float* proj,
                                 float* q, float* k, float* dt, float* adt, float* trap,
                                 float* dtheta, const float* theta, bool doQK, bool doScalars) {
    const int64_t t = blockIdx.x;
    const float* row = proj + t * d.dInProj;
    const int64_t qkStride = int64_t(d.R) * d.H * d.N;
    const int warp = threadIdx.x >> 5, nWarps = blockDim.x >> 5;
    // Few rows (decode): gridDim.y blocks share a row's work.
    const int hpg = d.H / d.G, part = blockIdx.y, parts = gridDim.y;
    const float* thetaRow = theta ? theta + t * d.H * d.A : nullptr;
    for (int w = part * nWarps + warp; doQK && w < 2 * d.R * d.G * hpg; w += nWarps * parts)
        normRow(d, p, row, w / hpg, w % hpg, q + t * qkStride, k + t * qkStride, thetaRow);
    if (!doScalars) return;
    // i < H: the scalars of head i; then the angle increments with a fastest, so that
    // the writes to dtheta [H, A] are contiguous (h fastest cost 32× the write traffic).
    for (int i = part * blockDim.x + threadIdx.x; i < d.H * (1 + d.A); i += blockDim.x * parts) {
        const int h = i < d.H ? i : (i - d.H) / d.A, a = i < d.H ? -1 : (i - d.H) % d.A;
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

// The fused path's q/k for many rows: one block per token row. The 2·R·G source rows'
// RMSNorm scales first (a warp each, the same sums as normRow), sin/cos of the row's
// angles once per (head, angle), then the output rows, a warp each. normRow per (row,
// head) recomputes the norm for each of the group's heads (1.3 ms a layer at 16k tokens
// that way, NOTES-gpu.md).
// kBf16: q and k go out as bf16 (qb, kb), the form the tensor-core scan multiplies in, and
// the k rows of each document's last token (rows t with (t + 1) % T == 0) also in fp32 to
// k (the scan keeps them as the state's pending key).
template <bool kBf16>
__global__ void qkRotatedKernel(detail::KDims d, ops::Mamba3PreprocessParams p, const float* proj,
                                const float* theta, float* q, float* k, __nv_bfloat16* qb,
                                __nv_bfloat16* kb, int64_t T) {
    extern __shared__ float sm[];
    const int RG = d.R * d.G, HA = d.H * d.A, hpg = d.H / d.G;
    float* scales = sm;             // [2·RG]: C rows, then B rows
    float* cosv = scales + 2 * RG;  // [H, A]
    float* sinv = cosv + HA;
    const int64_t t = blockIdx.x;
    const float* row = proj + t * d.dInProj;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nWarps = blockDim.x >> 5;
    for (int j = warp; j < 2 * RG; j += nWarps) {
        const float* src = row + (j < RG ? d.offC : d.offB) + int64_t(j % RG) * d.N;
        float ss = 0.0f;
        for (int n = lane; n < d.N; n += 32) ss += src[n] * src[n];
        const float sc = rsqrtf(detail::warpSum(ss) / float(d.N) + d.eps);
        if (lane == 0) scales[j] = sc;
    }
    for (int i = threadIdx.x; i < HA; i += blockDim.x)
        sincosf(theta[t * HA + i], &sinv[i], &cosv[i]);
    __syncthreads();
    // A warp per output row (q or k, rank r, head h), lanes along n: the row's pointers and
    // scale once, no index divisions per element (those made an element-wise loop
    // compute-bound: 2.9 ms a layer, NOTES-gpu.md).
    const int64_t qkStride = int64_t(d.R) * d.H * d.N;
    const int half = d.N / 2, outRows = 2 * d.R * d.H;
    for (int orow = warp; orow < outRows; orow += nWarps) {
        const bool isK = orow >= d.R * d.H;
        const int rh = isK ? orow - d.R * d.H : orow, r = rh / d.H, h = rh % d.H;
        const int j = r * d.G + h / hpg;
        const float* src = row + (isK ? d.offB : d.offC) + int64_t(j) * d.N;
        const float sc = scales[(isK ? RG : 0) + j];
        const float* w = isK ? p.bNorm : p.cNorm;
        const float* bias = (isK ? p.bBias : p.cBias) + (int64_t(h) * d.R + r) * d.N;
        const float* cs = cosv + h * d.A;
        const float* sn = sinv + h * d.A;
        const int64_t at = t * qkStride + int64_t(rh) * d.N;
        float* dst = (isK ? k : q) + at;
        __nv_bfloat16* dstB = kBf16 ? (isK ? kb : qb) + at : nullptr;
        const bool keepF32 = !kBf16 || (isK && (t + 1) % T == 0);
        if (kBf16 && !d.mimo) {
            // SISO (bf16 only, N even): a lane makes the adjacent pair (n, n + 1), which are
            // each other's rotation partners: no partner recomputed, bf16 pairs stored.
            for (int m = lane; m < half; m += 32) {
                const int n = 2 * m;
                float v0 = src[n] * sc * w[n] + bias[n];
                float v1 = src[n + 1] * sc * w[n + 1] + bias[n + 1];
                if (m < d.A) {
                    const float r0 = v0 * cs[m] - v1 * sn[m];
                    v1 = v0 * sn[m] + v1 * cs[m];
                    v0 = r0;
                }
                *reinterpret_cast<__nv_bfloat162*>(dstB + n) = __floats2bfloat162_rn(v0, v1);
                if (keepF32) {
                    dst[n] = v0;
                    dst[n + 1] = v1;
                }
            }
            continue;
        }
        for (int n = lane; n < d.N; n += 32) {
            float v = src[n] * sc * w[n] + bias[n];
            int a = -1, partner = 0;
            bool first = true;
            if (d.mimo) {
                if (n < d.A) {
                    a = n;
                    partner = n + half;
                } else if (n >= half && n < half + d.A) {
                    a = n - half;
                    partner = a;
                    first = false;
                }
            } else if (n < 2 * d.A) {
                a = n >> 1;
                partner = n ^ 1;
                first = (n & 1) == 0;
            }
            if (a >= 0) {
                const float u = src[partner] * sc * w[partner] + bias[partner];
                v = first ? v * cs[a] - u * sn[a] : u * sn[a] + v * cs[a];
            }
            if constexpr (kBf16) dstB[n] = __float2bfloat16_rn(v);
            if (keepF32) dst[n] = v;
        }
    }
}

}  // namespace

void mamba3_preprocess_forward(const ops::Mamba3Dims& d, const ops::Mamba3PreprocessParams& p,
                               const float* proj, int64_t rows, float* q, float* k, float* dt,
                               float* adt, float* trap, float* dtheta, cudaStream_t s) {
    if (rows <= 0) return;
    const unsigned parts = rows < 64 ? 16 : 1;
    preprocessKernel<<<dim3(unsigned(rows), parts), 256, 0, s>>>(
        detail::kdims(d), p, proj, q, k, dt, adt, trap, dtheta, nullptr, true, true);
}

void mamba3_preprocess_scalars_forward(const ops::Mamba3Dims& d,
                                       const ops::Mamba3PreprocessParams& p, const float* proj,
                                       int64_t rows, float* dt, float* adt, float* trap,
                                       float* dtheta, cudaStream_t s) {
    if (rows <= 0) return;
    // H·(1 + A) values a row: 128 threads a block, a few blocks a row when rows are few.
    const unsigned parts = rows < 64 ? 4 : 1;
    preprocessKernel<<<dim3(unsigned(rows), parts), 128, 0, s>>>(
        detail::kdims(d), p, proj, nullptr, nullptr, dt, adt, trap, dtheta, nullptr, false, true);
}

void mamba3_qk_rotated_forward(const ops::Mamba3Dims& d, const ops::Mamba3PreprocessParams& p,
                               const float* proj, int64_t rows, const float* theta, float* q,
                               float* k, cudaStream_t s) {
    if (rows <= 0) return;
    const size_t smem = size_t(2 * d.R * d.G + 2 * d.H * d.A) * sizeof(float);
    if (rows >= 64 && smem <= 48 * 1024) {
        qkRotatedKernel<false><<<unsigned(rows), 256, smem, s>>>(detail::kdims(d), p, proj, theta,
                                                                 q, k, nullptr, nullptr, 1);
        return;
    }
    // Few rows (decode): the per-(row, head) warps spread over 16 blocks a row.
    const unsigned parts = rows < 64 ? 16 : 1;
    preprocessKernel<<<dim3(unsigned(rows), parts), 256, 0, s>>>(
        detail::kdims(d), p, proj, q, k, nullptr, nullptr, nullptr, nullptr, theta, true, false);
}

bool mamba3_qk_rotated_bf16_forward(const ops::Mamba3Dims& d, const ops::Mamba3PreprocessParams& p,
                                    const float* proj, int64_t rows, int64_t T, const float* theta,
                                    void* qb, void* kb, float* kLast, cudaStream_t s) {
    const size_t smem = size_t(2 * d.R * d.G + 2 * d.H * d.A) * sizeof(float);
    if (rows < 64 || smem > 48 * 1024 || T <= 0 || rows % T != 0 || d.N % 2 != 0) return false;
    qkRotatedKernel<true><<<unsigned(rows), 256, smem, s>>>(
        detail::kdims(d), p, proj, theta, nullptr, kLast, static_cast<__nv_bfloat16*>(qb),
        static_cast<__nv_bfloat16*>(kb), T);
    return true;
}

}  // namespace lectern::cuda
