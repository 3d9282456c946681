// The training scan's forward (CUDA twin of the CPU ssm_scan_forward_checkpoint in
// training/backward/ssm_scan_backward.cpp): y for every token and the state entering each
// chunk of `chunk` tokens, from a zero state per batch row. One block per (head, row), the
// state in registers (layout: ssm_scan_train.cuh); rows p are independent, so warps only
// meet at the one per-token barrier of the shared input ring.
#include "train/ssm_scan_train.cuh"
#include "training/cuda/scan_backward_cuda.h"

namespace lectern::train::cuda {
namespace {

using namespace detail;

template <int J, int MaxRpw>
__global__ void __launch_bounds__(kThreads, 2)
    forwardKernel(KDims d, ops::SsmScanInputs in, int64_t T, int64_t chunk, int64_t nChk, int rpw,
                  float* y, float* starts) {
    extern __shared__ float sm[];
    const int h = blockIdx.x;
    const int64_t b = blockIdx.y;
    const SlotLayout L = slotLayout(d.R, d.P, d.N);
    const int slotF = L.floats();
    float* ring = sm;              // [3][slotF]
    float* mx = ring + 3 * slotF;  // mimo_x[h] [R, P]
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int e = threadIdx.x; e < d.R * d.P; e += kThreads)
        mx[e] = in.mimoX ? in.mimoX[int64_t(h) * d.R * d.P + e] : 1.0f;
    __syncthreads();
    const TokenLoader ld{d, in, nullptr, L, h, b * T};
    float reg[kMaxLoad];
    ld.load(-1, kWithQ, reg);
    ld.store(ring + ringSlot(-1) * slotF, reg, mx);
    ld.load(0, kWithQ, reg);
    ld.store(ring + ringSlot(0) * slotF, reg, mx);
    __syncthreads();

    float hs[MaxRpw][J];
#pragma unroll
    for (int i = 0; i < MaxRpw; ++i)
#pragma unroll
        for (int j = 0; j < J; ++j) hs[i][j] = 0.0f;
    const int64_t hsz = int64_t(d.P) * d.N;
    int64_t inChunk = 0;  // t mod chunk, counted (a 64-bit % is a long routine)
    for (int64_t t = 0; t < T; ++t, inChunk = inChunk + 1 == chunk ? 0 : inChunk + 1) {
        const int64_t row = b * T + t;
        if (t + 1 < T) ld.load(t + 1, kWithQ, reg);
        if (inChunk == 0) {  // the state entering the chunk that starts here
            float* S = starts + ((b * nChk + (t - inChunk) / chunk) * d.H + h) * hsz;
#pragma unroll
            for (int i = 0; i < MaxRpw; ++i) {
                const int p = warp + kWarps * i;
                if (i >= rpw || p >= d.P) continue;
#pragma unroll
                for (int j = 0; j < J; ++j)
                    if (lane + 32 * j < d.N) S[int64_t(p) * d.N + lane + 32 * j] = hs[i][j];
            }
        }
        const float* cur = ring + ringSlot(t) * slotF;
        const float* prv = ring + ringSlot(t - 1) * slotF;
        advance<J, MaxRpw>(d, hs, cur, prv, L, rpw);
        // y_{t,r}[p] = Σ_n h[p, n] q_r[n] + D v_r[p]: a warp sum per (row, rank).
        const float Dh = in.D[h];
#pragma unroll
        for (int i = 0; i < MaxRpw; ++i) {
            const int p = warp + kWarps * i;
            if (i >= rpw || p >= d.P) continue;
            for (int r = 0; r < d.R; ++r) {
                float acc = 0.0f;
#pragma unroll
                for (int j = 0; j < J; ++j)
                    if (lane + 32 * j < d.N) acc += hs[i][j] * cur[L.q() + r * d.N + lane + 32 * j];
                acc = lectern::cuda::detail::warpSum(acc);
                if (lane == 0)
                    y[((row * d.R + r) * d.H + h) * int64_t(d.P) + p] =
                        acc + Dh * cur[L.v() + r * d.P + p];
            }
        }
        if (t + 1 < T) ld.store(ring + ringSlot(t + 1) * slotF, reg, mx);
        __syncthreads();
    }
}

template <int J>
cudaError_t launchForward(const ops::Mamba3Dims& dims, const ops::SsmScanInputs& in, int64_t batch,
                          int64_t T, int64_t chunk, int rpw, float* y, float* starts,
                          cudaStream_t s) {
    constexpr int MaxRpw = kElems / J;
    const SlotLayout L = slotLayout(dims.R, dims.P, dims.N);
    const size_t bytes = size_t(3 * L.floats() + dims.R * dims.P) * sizeof(float);
    auto* k = forwardKernel<J, MaxRpw>;
    if (cudaError_t e =
            cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
        e != cudaSuccess)
        return e;
    const dim3 grid(unsigned(dims.H), unsigned(batch));
    k<<<grid, kThreads, bytes, s>>>(lectern::cuda::detail::kdims(dims), in, T, chunk,
                                    (T + chunk - 1) / chunk, rpw, y, starts);
    return cudaGetLastError();
}

}  // namespace

cudaError_t ssm_scan_forward_checkpoint(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in,
                                        int64_t batch, int64_t T, int64_t chunk, float* y,
                                        float* starts, cudaStream_t s) {
    if (chunk <= 0 || batch < 0 || T < 0 || batch > 65535) return cudaErrorInvalidValue;
    if (batch == 0 || T == 0) return cudaSuccess;
    int J = 0, rpw = 0;
    if (!detail::pickLayout(d, J, rpw)) return cudaErrorInvalidValue;
    switch (J) {
        case 1:
            return launchForward<1>(d, in, batch, T, chunk, rpw, y, starts, s);
        case 2:
            return launchForward<2>(d, in, batch, T, chunk, rpw, y, starts, s);
        default:
            return launchForward<4>(d, in, batch, T, chunk, rpw, y, starts, s);
    }
}

}  // namespace lectern::train::cuda
