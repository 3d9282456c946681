// CUDA twin of engine/cpu/ssm_step.cpp (the decode form). One block per (head, document,
// group of rows p; several groups only for one token); tokens in order. Warps own rows p of the
// state h[p, :], lanes its columns n: each lane updates its elements in registers' reach and
// accumulates h q_r, reduced per warp.
#include "common.cuh"
#include "cuda/cuda_ops.h"

namespace lectern::cuda {
namespace {

constexpr int kMaxRank = 16;  // checked on the host
constexpr int kMaxN = 256;

// rowsPerBlock: the rows p of this block (blockIdx.z picks which); with more than one
// block per head (decode, T == 1) the k/x state is replaced by commitKV afterwards, since
// other blocks of the head still read it.
__global__ void stepKernel(detail::KDims d, ops::SsmScanInputs in, ops::SsmStateRef st, float* y,
                           int64_t T, int rowsPerBlock) {
    extern __shared__ float sm[];
    const int h = blockIdx.x;
    const int64_t b = blockIdx.y;
    const int p0 = blockIdx.z * rowsPerBlock, p1 = min(d.P, p0 + rowsPerBlock);
    const bool split = gridDim.z > 1;
    const int RN = d.R * d.N, RP = d.R * d.P;
    float* qS = sm;
    float* kS = qS + RN;
    float* kP = kS + RN;
    float* vC = kP + RN;
    float* vP = vC + RP;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nWarps = blockDim.x >> 5;
    float* S = st.ssm + (b * d.H + h) * int64_t(d.P) * d.N;
    float* xState = st.v + (b * d.H + h) * int64_t(d.P);
    const int64_t qkStride = int64_t(d.R) * d.H * d.N;
    for (int64_t t = 0; t < T; ++t) {
        const int64_t row = b * T + t;
        for (int i = threadIdx.x; i < RN; i += blockDim.x) {
            const int r = i / d.N, n = i % d.N;
            const int64_t off = (int64_t(r) * d.H + h) * d.N + n;
            qS[i] = in.q[row * qkStride + off];
            kS[i] = in.k[row * qkStride + off];
            kP[i] = st.k[b * qkStride + off];
        }
        for (int i = threadIdx.x; i < RP; i += blockDim.x) {
            const int r = i / d.P, p = i % d.P;
            const float w = in.mimoX ? in.mimoX[(int64_t(h) * d.R + r) * d.P + p] : 1.0f;
            vC[i] = in.x[row * in.xStride + int64_t(h) * d.P + p] * w;
            vP[i] = xState[p] * w;
        }
        __syncthreads();
        const int64_t th = row * d.H + h;
        const float alpha = expf(in.adt[th]);
        const float beta = (1.0f - in.trap[th]) * in.dt[th] * alpha;
        const float gamma = in.trap[th] * in.dt[th];
        for (int p = p0 + warp; p < p1; p += nWarps) {
            float acc[kMaxRank];
            for (int r = 0; r < d.R; ++r) acc[r] = 0.0f;
            float* Sp = S + int64_t(p) * d.N;
            float sv[kMaxN / 32];  // the row's loads issued together, not one per use
#pragma unroll
            for (int j = 0; j < kMaxN / 32; ++j)
                if (lane + 32 * j < d.N) sv[j] = Sp[lane + 32 * j];
#pragma unroll
            for (int j = 0; j < kMaxN / 32; ++j) {
                const int n = lane + 32 * j;
                if (n >= d.N) break;
                float s = alpha * sv[j];
                for (int r = 0; r < d.R; ++r)
                    s += beta * vP[r * d.P + p] * kP[r * d.N + n] +
                         gamma * vC[r * d.P + p] * kS[r * d.N + n];
                Sp[n] = s;
                for (int r = 0; r < d.R; ++r) acc[r] += s * qS[r * d.N + n];
            }
            for (int r = 0; r < d.R; ++r) {
                const float v = detail::warpSum(acc[r]);
                if (lane == 0)
                    y[((row * d.R + r) * d.H + h) * int64_t(d.P) + p] =
                        v + in.D[h] * vC[r * d.P + p];
            }
        }
        __syncthreads();  // everyone has read kP / xState before they are replaced
        if (split) continue;
        for (int i = threadIdx.x; i < RN; i += blockDim.x) {
            const int r = i / d.N, n = i % d.N;
            st.k[b * qkStride + (int64_t(r) * d.H + h) * d.N + n] = kS[i];
        }
        for (int p = threadIdx.x; p < d.P; p += blockDim.x)
            xState[p] = in.x[row * in.xStride + int64_t(h) * d.P + p];
        __syncthreads();
    }
}

// The last token's k and x become the state's pending pair (after a split step).
__global__ void commitKV(detail::KDims d, ops::SsmScanInputs in, ops::SsmStateRef st, int64_t T) {
    const int h = blockIdx.x;
    const int64_t b = blockIdx.y, row = b * T + T - 1;
    const int64_t qkStride = int64_t(d.R) * d.H * d.N;
    for (int i = threadIdx.x; i < d.R * d.N; i += blockDim.x) {
        const int64_t off = (int64_t(i / d.N) * d.H + h) * d.N + i % d.N;
        st.k[b * qkStride + off] = in.k[row * qkStride + off];
    }
    for (int p = threadIdx.x; p < d.P; p += blockDim.x)
        st.v[(b * d.H + h) * int64_t(d.P) + p] = in.x[row * in.xStride + int64_t(h) * d.P + p];
}

}  // namespace

cudaError_t ssm_step_forward(const ops::Mamba3Dims& dims, const ops::SsmScanInputs& in,
                             int64_t batch, int64_t T, float* y, const ops::SsmStateRef& st,
                             cudaStream_t s) {
    if (batch <= 0 || T <= 0) return cudaSuccess;
    if (dims.R > kMaxRank) return cudaErrorInvalidValue;
    const size_t bytes = size_t(3 * dims.R * dims.N + 2 * dims.R * dims.P) * sizeof(float);
    if (bytes > 48 * 1024) return cudaErrorInvalidValue;
    if (dims.N > kMaxN) return cudaErrorInvalidValue;
    // One token (decode) with few documents: the rows p of a head split over up to 4
    // blocks, to about one block per multiprocessor (64 blocks, one per head, left most
    // of the GPU idle at batch 1; a block per 8 rows made 31 waves at batch 16, 3× slower
    // there, NOTES-gpu.md). Several tokens must stay in one block.
    int pBlocks = 1;
    if (T == 1) {
        int sms = 132;
        if (int dev = 0; cudaGetDevice(&dev) == cudaSuccess)
            cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
        pBlocks = int(std::clamp<int64_t>(sms / (int64_t(dims.H) * batch), 1, 4));
        pBlocks = std::min(pBlocks, std::max(1, dims.P / 8));
    }
    const int rowsPerBlock = (dims.P + pBlocks - 1) / pBlocks;
    const dim3 grid(unsigned(dims.H), unsigned(batch), pBlocks);
    stepKernel<<<grid, 256, bytes, s>>>(detail::kdims(dims), in, st, y, T, rowsPerBlock);
    if (pBlocks > 1)
        commitKV<<<dim3(unsigned(dims.H), unsigned(batch)), 128, 0, s>>>(detail::kdims(dims), in,
                                                                         st, T);
    return cudaGetLastError();
}

}  // namespace lectern::cuda
