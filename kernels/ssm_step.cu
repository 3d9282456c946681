// CUDA twin of engine/cpu/ssm_step.cpp (the decode form). One block per (head, document);
// tokens in order. Warps own rows p of the state h[p, :], lanes its columns n: each lane
// updates its elements in registers' reach and accumulates h q_r, reduced per warp.
#include "common.cuh"
#include "cuda/cuda_ops.h"

namespace lectern::cuda {
namespace {

constexpr int kMaxRank = 16;  // checked on the host

__global__ void stepKernel(detail::KDims d, ops::SsmScanInputs in, ops::SsmStateRef st, float* y,
                           int64_t T) {
    extern __shared__ float sm[];
    const int h = blockIdx.x;
    const int64_t b = blockIdx.y;
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
        for (int p = warp; p < d.P; p += nWarps) {
            float acc[kMaxRank];
            for (int r = 0; r < d.R; ++r) acc[r] = 0.0f;
            float* Sp = S + int64_t(p) * d.N;
            for (int n = lane; n < d.N; n += 32) {
                float s = alpha * Sp[n];
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
        for (int i = threadIdx.x; i < RN; i += blockDim.x) {
            const int r = i / d.N, n = i % d.N;
            st.k[b * qkStride + (int64_t(r) * d.H + h) * d.N + n] = kS[i];
        }
        for (int p = threadIdx.x; p < d.P; p += blockDim.x)
            xState[p] = in.x[row * in.xStride + int64_t(h) * d.P + p];
        __syncthreads();
    }
}

}  // namespace

cudaError_t ssm_step_forward(const ops::Mamba3Dims& dims, const ops::SsmScanInputs& in,
                             int64_t batch, int64_t T, float* y, const ops::SsmStateRef& st,
                             cudaStream_t s) {
    if (batch <= 0 || T <= 0) return cudaSuccess;
    if (dims.R > kMaxRank) return cudaErrorInvalidValue;
    const size_t bytes = size_t(3 * dims.R * dims.N + 2 * dims.R * dims.P) * sizeof(float);
    if (bytes > 48 * 1024) return cudaErrorInvalidValue;
    stepKernel<<<dim3(unsigned(dims.H), unsigned(batch)), 256, bytes, s>>>(detail::kdims(dims), in,
                                                                           st, y, T);
    return cudaGetLastError();
}

}  // namespace lectern::cuda
