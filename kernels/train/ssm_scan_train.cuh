// Shared by the training scan's CUDA forward (ssm_scan_forward_checkpoint.cu) and backward
// (ssm_scan_backward.cu): one thread block per (head, batch row) walks the row's tokens in
// order, with the head's P × N state in registers. Layout: 8 warps; warp w owns the rows
// p = w + 8i (i < rpw = ⌈P/8⌉), lane l the columns n = l + 32j (j < J = ⌈N/32⌉ rounded up to
// 1, 2 or 4: N ≤ 128, d_state of every target model; each J is a large instantiation and
// nvcc time adds up): a thread holds at most 32 state elements (MaxRpw = 32 / J). Each token's
// inputs are staged in shared memory, in a ring of three slots (token t, t − 1 and the prefetched
// one), so one __syncthreads per token suffices; a thread loads its share of the next token into
// registers before computing the current one and stores it afterwards, hiding the latency.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"
#include "ops/ssm_scan_common.h"
#include "training/backward/backward_ops.h"  // SsmScanGrads

namespace lectern::train::cuda::detail {

using lectern::cuda::detail::KDims;

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxLoad = 8;    // token-slot floats a thread stages: slot ≤ 8 · 256 floats
constexpr int kElems = 32;     // state elements a thread holds (MaxRpw · J)
constexpr int kSubChunk = 64;  // default tokens per backward replay (ssm_scan_backward.cu)

// One token's inputs in shared memory, at these offsets of a slot.
struct SlotLayout {
    int RN, RP, P;
    __host__ __device__ int q() const { return 0; }
    __host__ __device__ int k() const { return RN; }
    __host__ __device__ int v() const { return 2 * RN; }  // v_r = x ⊙ mimo_x[h, r]   [R, P]
    __host__ __device__ int dy() const { return 2 * RN + RP; }
    __host__ __device__ int x() const { return 2 * RN + 2 * RP; }       // raw x [P]
    __host__ __device__ int sc() const { return 2 * RN + 2 * RP + P; }  // adt, dt, trap
    __host__ __device__ int floats() const { return (sc() + 3 + 3) & ~3; }
};

__host__ __device__ inline SlotLayout slotLayout(int R, int P, int N) {
    return SlotLayout{R * N, R * P, P};
}

// t ≥ −1 and far below 2³²: a 32-bit modulo by a constant (a multiply), not the 64-bit
// division routine, which cost ~100 instructions a call, several calls a token.
__device__ inline int ringSlot(int64_t t) {
    return int(uint32_t(t + 3) % 3u);
}

// What a slot needs: the recurrence reads k, v and the scalars; the forward adds q, the
// backward q, dy and the raw x.
enum LoadWhat : int { kRecurrence = 0, kWithQ = 1, kWithGrad = 2 };

// Token t's share of thread threadIdx.x, loaded into registers (zeros for t < 0: the state
// before a row's first token has no pending k/v; segments not asked for are zeros).
struct TokenLoader {
    const KDims& d;
    const ops::SsmScanInputs& in;
    const float* dy;
    SlotLayout L;
    int h;
    int64_t rowBase;  // b · T

    __device__ void load(int64_t t, int what, float (&reg)[kMaxLoad]) const {
        const int n = L.floats();
        const int64_t row = rowBase + t, qk = int64_t(d.R) * d.H * d.N;
#pragma unroll
        for (int u = 0; u < kMaxLoad; ++u) {
            const int idx = threadIdx.x + u * kThreads;
            float v = 0.0f;
            if (t >= 0 && idx < n) {
                if (idx < L.k()) {
                    if (what & kWithQ)
                        v = in.q[row * qk + (int64_t(idx / d.N) * d.H + h) * d.N + idx % d.N];
                } else if (idx < L.v()) {
                    const int e = idx - L.k();
                    v = in.k[row * qk + (int64_t(e / d.N) * d.H + h) * d.N + e % d.N];
                } else if (idx < L.dy()) {
                    v = in.x[row * in.xStride + int64_t(h) * d.P + (idx - L.v()) % d.P];
                } else if (idx < L.x()) {
                    const int e = idx - L.dy();
                    if (what & kWithGrad)
                        v = dy[((row * d.R + e / d.P) * d.H + h) * int64_t(d.P) + e % d.P];
                } else if (idx < L.sc()) {
                    if (what & kWithGrad)
                        v = in.x[row * in.xStride + int64_t(h) * d.P + (idx - L.x())];
                } else if (idx < L.sc() + 3) {
                    const int64_t th = row * d.H + h;
                    const int e = idx - L.sc();
                    v = e == 0 ? in.adt[th] : e == 1 ? in.dt[th] : in.trap[th];
                }
            }
            reg[u] = v;
        }
    }
    // The v segment is x times mimo_x (mx [R, P] in shared memory), applied here, after
    // the current token's work, so the multiply does not wait on the load.
    __device__ void store(float* slot, const float (&reg)[kMaxLoad], const float* mx) const {
        const int n = L.floats();
#pragma unroll
        for (int u = 0; u < kMaxLoad; ++u) {
            const int idx = threadIdx.x + u * kThreads;
            if (idx >= n) continue;
            const bool isV = idx >= L.v() && idx < L.dy();
            slot[idx] = isV ? reg[u] * mx[idx - L.v()] : reg[u];
        }
    }
};

struct Coef {
    float alpha, beta, gamma, dt, trap;
};

// The same float expressions as engine/cpu/ssm_step.cpp.
__device__ inline Coef coefOf(const float* slot, const SlotLayout& L) {
    const float adt = slot[L.sc()], dt = slot[L.sc() + 1], tr = slot[L.sc() + 2];
    const float alpha = expf(adt);
    return Coef{alpha, (1.0f - tr) * dt * alpha, tr * dt, dt, tr};
}

// h_t = α h_{t−1} + β Σ_r v_{t−1,r} k_{t−1,r}ᵀ + γ Σ_r v_{t,r} k_{t,r}ᵀ on this thread's
// elements (cur: token t's slot, prv: token t − 1's); rows p = p0 + warp + 8i (p0: the
// first row of a block that owns only a group of rows, ssm_scan_backward.cu).
template <int J, int MaxRpw>
__device__ inline void advance(const KDims& d, float (&hs)[MaxRpw][J], const float* cur,
                               const float* prv, const SlotLayout& L, int rpw, int p0 = 0) {
    const Coef c = coefOf(cur, L);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int i = 0; i < MaxRpw; ++i) {
        const int p = p0 + warp + kWarps * i;
        if (i >= rpw || p >= d.P) continue;
#pragma unroll
        for (int j = 0; j < J; ++j) {
            const int n = lane + 32 * j;
            if (n >= d.N) continue;
            float s = c.alpha * hs[i][j];
            for (int r = 0; r < d.R; ++r)
                s += c.beta * prv[L.v() + r * d.P + p] * prv[L.k() + r * d.N + n] +
                     c.gamma * cur[L.v() + r * d.P + p] * cur[L.k() + r * d.N + n];
            hs[i][j] = s;
        }
    }
}

// Host side: the instantiation (J, rpw) for these dims, or false if they are out of reach.
inline bool pickLayout(const ops::Mamba3Dims& d, int& J, int& rpw) {
    if (d.N <= 0 || d.P <= 0 || d.R <= 0 || d.H <= 0 || d.N > 128) return false;
    J = 1;
    while (32 * J < d.N) J *= 2;
    rpw = (d.P + kWarps - 1) / kWarps;
    if (rpw * J > kElems) return false;
    return slotLayout(d.R, d.P, d.N).floats() <= kMaxLoad * kThreads;
}

// The two backward paths behind ssm_scan_backward_recompute (ssm_scan_backward_dispatch.cu):
// the sequential token loop (ssm_scan_backward.cu: every shape pickLayout takes, MIMO too) and
// the chunked matrix form (ssm_scan_backward_chunked.cu: SISO, P ≤ 64, N ≤ 128, chunk ≤ 64).
// Same contract and layouts; each workspace function returns 0 for shapes its path refuses.
int64_t sequentialBackwardWorkspaceFloats(const ops::Mamba3Dims& d, int64_t batch, int64_t T,
                                          int64_t chunk);
cudaError_t sequentialBackward(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in,
                               const float* starts, int64_t batch, int64_t T, int64_t chunk,
                               const float* dy, const SsmScanGrads& g, float* workspace,
                               cudaStream_t s);
bool chunkedBackwardSupports(const ops::Mamba3Dims& d, int64_t chunk);
// The chunked path's products: fp32 (SIMT), or TF32 operands on fp32 tiles.
enum class ChunkProducts { Fp32, Tf32 };
int64_t chunkedBackwardWorkspaceFloats(const ops::Mamba3Dims& d, int64_t batch, int64_t T,
                                       int64_t chunk);
// writeQkx: dq, dk, dx written (=), their old contents not read (the others still +=).
// qkBf16: q then k ([batch·T, H, N] each) in bf16, read instead of in.q / in.k (Tf32 only;
// other forms refuse it: cudaErrorInvalidValue).
cudaError_t chunkedBackward(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in,
                            const float* starts, int64_t batch, int64_t T, int64_t chunk,
                            const float* dy, const SsmScanGrads& g, float* workspace,
                            cudaStream_t s, ChunkProducts tc = ChunkProducts::Fp32,
                            bool writeQkx = false, const void* qkBf16 = nullptr);
// dD[h] += Σ_row partials[row, h, 0], dmimoX[h, :] += Σ_row partials[row, h, 1 + :] (rows in
// order: deterministic; dmimoX may be null), partials [rows, H, 1 + RP].
cudaError_t sumScanPartials(int H, int RP, int64_t rows, const float* partials, float* dD,
                            float* dmimoX, cudaStream_t s);

}  // namespace lectern::train::cuda::detail
