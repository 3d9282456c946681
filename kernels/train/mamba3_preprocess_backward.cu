// CUDA twin of training/backward/mamba3_preprocess_backward.cpp (NOTES-mamba3_preprocess.md).
// Four launches, each owning disjoint columns of dproj:
//  1. scalars, one thread per (row, head): dd_dt, dd_A, trap; dtBias from per-block sums in
//     a fixed order (one atomicAdd per block and head, or written per block for the fused
//     form's fixed-order sum over the blocks).
//  1b. angles, one thread per (row, angle): the angle column (one per token, shared by the
//     heads) gets Σ_h ∂L/∂dθ[h]·dt_h·π·tanh' in one add. (It was H atomicAdds to one address
//     from adjacent threads of the scalars kernel.)
//  2. B/C norms, one warp per (row, rank, group), blockIdx.y picking C (dq) or B (dk): the
//     heads of the group sum into the shared normed row, then the RMSNorm backward over N
//     into the B/C columns; the norm weight's gradient collects in each warp's registers
//     (lane owns n = lane + 32j) and is added once per warp.
//  3. B/C biases: dBias[h, r, n] = Σ_rows dout[row, r, h, n], a column sum. Where R·H·N
//     floats a warp fit (4 warps, 48 KB of shared memory: the ~125M model's 3,072 just do),
//     inside launch 2, which reads dq and dk anyway: each lane adds the values it loads into
//     its warp's own shared copy of the sums (a lane always owns the same n, so no two
//     threads touch one entry), and the block adds its warps' sums with one atomicAdd per
//     entry at the end; dq and dk are read once instead of twice. Else its own launch, one
//     thread per column and chunk of rows, one atomicAdd per chunk.
#include "common.cuh"
#include "mamba3_preprocess_backward_parts.cuh"
#include "training/cuda/ops_backward_cuda.h"

namespace lectern::train::cuda {
namespace {

namespace det = lectern::cuda::detail;
constexpr int kMaxNJ = 8;      // N <= 256: lane owns n = lane + 32j, j < 8
constexpr int kHeadBatch = 4;  // the norm backward's heads loaded at once
constexpr int64_t kBiasChunk = 64;
constexpr int kFusedWarps = 4;                   // the bias sums inside the norm launch
constexpr size_t kFusedSharedBytes = 48 * 1024;  // no opt-in needed up to here

__device__ float heavyTail(float u) {
    return u >= 0.0f ? 1.0f + u : 1.0f / (1.0f - u);
}
__device__ float heavyTailSlope(float u) {
    return u >= 0.0f ? 1.0f : 1.0f / ((1.0f - u) * (1.0f - u));
}

// A block: blockDim / H row slots of H threads; thread h of a slot owns head h in every row
// it visits (rows grid-strided), sums its dtBias terms in row order, and the block adds its
// slots in order: the same sums every run (no shared atomics).
__global__ void scalarsBackward(det::KDims d, const float* __restrict__ proj,
                                const float* __restrict__ dtBias, int64_t rows,
                                const float* __restrict__ ddt, const float* __restrict__ dadt,
                                const float* __restrict__ dtrap, const float* __restrict__ ddtheta,
                                float* __restrict__ dproj, float* __restrict__ gDtBias,
                                float* __restrict__ partials, bool vec4) {
    extern __shared__ float acc[];  // [blockDim]: each thread's sum
    const int slots = int(blockDim.x) / d.H, slot = int(threadIdx.x) / d.H;
    const int h = int(threadIdx.x) - slot * d.H;
    float mine = 0.0f;
    for (int64_t t = int64_t(blockIdx.x) * slots + slot; t < rows;
         t += int64_t(gridDim.x) * slots) {
        const int64_t th = t * d.H + h;
        const float* row = proj + t * d.dInProj;
        float* drow = dproj + t * d.dInProj;
        const float u = row[d.offDt + h] + dtBias[h];
        const float dt = u > 20.0f ? u : log1pf(expf(u));
        const float v = row[d.offA + h];
        const bool clamped = !(-heavyTail(v) < -d.aFloor);
        const float a = clamped ? -d.aFloor : -heavyTail(v);
        double ddtTotal = double(ddt[th]) + double(dadt[th]) * a;
        const float* gth = ddtheta + th * d.A;
        const float* ang = row + d.offAngles;
        int k0 = 0;
        if (vec4)  // adjacent threads read A floats apart: 16-byte loads, 4x fewer requests
#pragma unroll 4
            for (; k0 + 4 <= d.A; k0 += 4) {
                const float4 g4 = __ldg(reinterpret_cast<const float4*>(gth + k0));
                ddtTotal += double(g4.x) * tanhf(ang[k0]) * det::kPi;
                ddtTotal += double(g4.y) * tanhf(ang[k0 + 1]) * det::kPi;
                ddtTotal += double(g4.z) * tanhf(ang[k0 + 2]) * det::kPi;
                ddtTotal += double(g4.w) * tanhf(ang[k0 + 3]) * det::kPi;
            }
        for (int k = k0; k < d.A; ++k) ddtTotal += double(gth[k]) * tanhf(ang[k]) * det::kPi;
        const float su = u > 20.0f ? 1.0f : 1.0f / (1.0f + expf(-u));
        const float du = float(ddtTotal) * su;
        drow[d.offDt + h] += du;
        mine += du;
        if (!clamped) drow[d.offA + h] += -dadt[th] * dt * heavyTailSlope(v);
        const float sg = 1.0f / (1.0f + expf(-row[d.offTrap + h]));
        drow[d.offTrap + h] += dtrap[th] * sg * (1.0f - sg);
    }
    acc[threadIdx.x] = mine;
    __syncthreads();
    for (int i = threadIdx.x; i < d.H; i += blockDim.x) {
        float sum = 0.0f;
        for (int k = 0; k < slots; ++k) sum += acc[k * d.H + i];
        if (partials)  // a fixed-order sum over the blocks follows (the fused form)
            partials[int64_t(blockIdx.x) * d.H + i] = sum;
        else
            atomicAdd(gDtBias + i, sum);
    }
}

__global__ void anglesBackward(det::KDims d, const float* __restrict__ proj,
                               const float* __restrict__ dtBias, int64_t rows,
                               const float* __restrict__ ddtheta, float* __restrict__ dproj) {
    const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (i >= rows * d.A) return;
    const int64_t t = i / d.A;
    const int k = int(i - t * d.A);
    const float* row = proj + t * d.dInProj;
    const float* g = ddtheta + t * int64_t(d.H) * d.A + k;
    float sum = 0.0f;
    for (int h = 0; h < d.H; ++h) {
        const float u = row[d.offDt + h] + dtBias[h];
        sum += g[int64_t(h) * d.A] * (u > 20.0f ? u : log1pf(expf(u)));
    }
    const float tn = tanhf(row[d.offAngles + k]);
    dproj[t * d.dInProj + d.offAngles + k] += sum * det::kPi * (1.0f - tn * tn);
}

// blockIdx.y == 0: C (gradient dq, offset offC); 1: B (dk, offB).
struct NormSide {
    const float* dout;  // dq or dk [rows, R, H, N]
    const float* normW;
    float* dNormW;
    float* dBias;  // cBias or bBias [H, R, N]: summed here where fuseBias
    int64_t off;
};

// NJ: the n slots a lane owns (n = lane + 32j, j < NJ), 4 where N <= 128: unrolled over 8,
// half the slots were issued predicated off at N = 128 and held registers (122).
template <int NJ>
__global__ void normBackward(det::KDims d, const float* __restrict__ proj, int64_t rows, NormSide c,
                             NormSide b, float* __restrict__ dproj, bool fuseBias) {
    extern __shared__ float biasSums[];  // fuseBias: [warps of the block][R, H, N]
    const NormSide sd = blockIdx.y == 0 ? c : b;
    const int64_t cols = int64_t(d.R) * d.H * d.N;
    float* mine = biasSums + (threadIdx.x >> 5) * cols;
    if (fuseBias) {
        for (int64_t i = threadIdx.x; i < int64_t(blockDim.x >> 5) * cols; i += blockDim.x)
            biasSums[i] = 0.0f;
        __syncthreads();
    }
    const int lane = threadIdx.x & 31;
    const int64_t warp = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) >> 5;
    const int64_t nWarps = (int64_t(gridDim.x) * blockDim.x) >> 5;
    const int64_t items = rows * d.R * d.G;
    const int headsPerGroup = d.H / d.G;
    float dw[NJ];
#pragma unroll
    for (int j = 0; j < NJ; ++j) dw[j] = 0.0f;
    for (int64_t it = warp; it < items; it += nWarps) {
        const int64_t t = it / (int64_t(d.R) * d.G);
        const int rg = int(it - t * d.R * d.G), r = rg / d.G, g = rg - r * d.G;
        const float* x = proj + t * d.dInProj + sd.off + int64_t(rg) * d.N;
        float* dx = dproj + t * d.dInProj + sd.off + int64_t(rg) * d.N;
        const float* __restrict__ go = sd.dout + (t * d.R + r) * int64_t(d.H) * d.N;
        float xv[NJ], dn[NJ];
#pragma unroll
        for (int j = 0; j < NJ; ++j) {
            xv[j] = lane + 32 * j < d.N ? x[lane + 32 * j] : 0.0f;
            dn[j] = 0.0f;
        }
        // The heads' loads kHeadBatch at a time, all issued before any is used: one load a head
        // with the shared bias add between kept one load in flight a thread (go may alias
        // shared memory for the compiler). The sums keep the heads' order.
        for (int hh0 = 0; hh0 < headsPerGroup; hh0 += kHeadBatch) {
            float v[kHeadBatch][NJ];
#pragma unroll
            for (int b = 0; b < kHeadBatch; ++b)
#pragma unroll
                for (int j = 0; j < NJ; ++j) {
                    const int n = lane + 32 * j;
                    v[b][j] = n < d.N && hh0 + b < headsPerGroup
                                  ? __ldg(go + int64_t(g * headsPerGroup + hh0 + b) * d.N + n)
                                  : 0.0f;
                }
#pragma unroll
            for (int b = 0; b < kHeadBatch; ++b)
#pragma unroll
                for (int j = 0; j < NJ; ++j) {
                    const int n = lane + 32 * j;
                    if (n >= d.N || hh0 + b >= headsPerGroup) continue;
                    dn[j] += v[b][j];
                    if (fuseBias)
                        mine[(int64_t(r) * d.H + g * headsPerGroup + hh0 + b) * d.N + n] += v[b][j];
                }
        }
        float ss = 0.0f, gx = 0.0f;
#pragma unroll
        for (int j = 0; j < NJ; ++j) {
            const int n = lane + 32 * j;
            if (n < d.N) {
                ss += xv[j] * xv[j];
                gx += dn[j] * sd.normW[n] * xv[j];
            }
        }
        ss = det::warpSum(ss);
        gx = det::warpSum(gx);
        const float rs = 1.0f / sqrtf(ss / float(d.N) + d.eps);
        const float cc = rs * rs * rs / float(d.N) * gx;
#pragma unroll
        for (int j = 0; j < NJ; ++j) {
            const int n = lane + 32 * j;
            if (n < d.N) {
                dx[n] += rs * dn[j] * sd.normW[n] - cc * xv[j];
                dw[j] += dn[j] * xv[j] * rs;
            }
        }
    }
#pragma unroll
    for (int j = 0; j < NJ; ++j) {
        const int n = lane + 32 * j;
        if (n < d.N && dw[j] != 0.0f) atomicAdd(sd.dNormW + n, dw[j]);
    }
    if (!fuseBias) return;
    __syncthreads();
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
        float sum = 0.0f;
        for (int w = 0; w < int(blockDim.x >> 5); ++w) sum += biasSums[w * cols + i];
        const int n = int(i % d.N), rh = int(i / d.N), r = rh / d.H, h = rh - r * d.H;
        atomicAdd(sd.dBias + (int64_t(h) * d.R + r) * d.N + n, sum);
    }
}

// Column sums of dq (blockIdx.z 0, into cBias) and dk (1, into bBias) over a chunk of rows.
__global__ void biasBackward(det::KDims d, int64_t rows, const float* __restrict__ dq,
                             const float* __restrict__ dk, float* __restrict__ gC,
                             float* __restrict__ gB) {
    const int64_t cols = int64_t(d.R) * d.H * d.N;
    const int64_t col = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (col >= cols) return;
    const float* src = blockIdx.z == 0 ? dq : dk;
    float* dst = blockIdx.z == 0 ? gC : gB;
    const int64_t t0 = blockIdx.y * kBiasChunk, t1 = min(rows, t0 + kBiasChunk);
    float sum = 0.0f;
    for (int64_t t = t0; t < t1; ++t) sum += src[t * cols + col];
    const int n = int(col % d.N), rh = int(col / d.N), r = rh / d.H, h = rh - r * d.H;
    atomicAdd(dst + (int64_t(h) * d.R + r) * d.N + n, sum);
}

}  // namespace

cudaError_t mamba3_preprocess_scalars_backward(const ops::Mamba3Dims& dims,
                                               const float* dtBiasParam, float* dtBias,
                                               const float* proj, int64_t rows, const float* ddt,
                                               const float* dadt, const float* dtrap,
                                               const float* ddtheta, float* dproj,
                                               float* dtBiasPartials, int* blocks, cudaStream_t s) {
    if (rows <= 0) return cudaSuccess;
    if (dims.H <= 0 || dims.H > 1024) return cudaErrorInvalidValue;
    const det::KDims d = det::kdims(dims);
    const bool vec4 = d.A % 4 == 0 && reinterpret_cast<uintptr_t>(ddtheta) % 16 == 0;
    const int slots = std::max(1, 256 / d.H), threads = slots * d.H;
    const unsigned sb =
        unsigned(std::min<int64_t>((rows + slots - 1) / slots, kPreprocessScalarBlocks));
    if (blocks) *blocks = int(sb);
    scalarsBackward<<<sb, threads, size_t(threads) * sizeof(float), s>>>(
        d, proj, dtBiasParam, rows, ddt, dadt, dtrap, ddtheta, dproj, dtBias, dtBiasPartials, vec4);
    if (d.A > 0)
        anglesBackward<<<det::gridFor(rows * d.A, 256), 256, 0, s>>>(d, proj, dtBiasParam, rows,
                                                                     ddtheta, dproj);
    return cudaGetLastError();
}

cudaError_t mamba3_preprocess_backward(const ops::Mamba3Dims& dims,
                                       const ops::Mamba3PreprocessParams& p,
                                       const Mamba3PreprocessGrads& g, const float* proj,
                                       int64_t rows, const float* dq, const float* dk,
                                       const float* ddt, const float* dadt, const float* dtrap,
                                       const float* ddtheta, float* dproj, cudaStream_t s) {
    if (rows <= 0) return cudaSuccess;
    if (dims.N > 32 * kMaxNJ || dims.G <= 0 || dims.H % dims.G != 0) return cudaErrorInvalidValue;
    const det::KDims d = det::kdims(dims);
    if (cudaError_t e =
            mamba3_preprocess_scalars_backward(dims, p.dtBias, g.dtBias, proj, rows, ddt, dadt,
                                               dtrap, ddtheta, dproj, nullptr, nullptr, s))
        return e;
    const int64_t items = rows * d.R * d.G;
    const int64_t cols = int64_t(d.R) * d.H * d.N;
    const NormSide cs{dq, p.cNorm, g.cNorm, g.cBias, d.offC},
        bs{dk, p.bNorm, g.bNorm, g.bBias, d.offB};
    const size_t fusedBytes = size_t(kFusedWarps) * size_t(cols) * sizeof(float);
    if (fusedBytes <= kFusedSharedBytes) {
        // Few enough blocks that each holds many rows (the block's sums cost one atomicAdd per
        // entry at its end), enough that all are resident at once on an H100.
        const dim3 nb(unsigned(std::min<int64_t>(det::gridFor(items, kFusedWarps), 512)), 2);
        if (d.N <= 128)
            normBackward<4>
                <<<nb, 32 * kFusedWarps, fusedBytes, s>>>(d, proj, rows, cs, bs, dproj, true);
        else
            normBackward<kMaxNJ>
                <<<nb, 32 * kFusedWarps, fusedBytes, s>>>(d, proj, rows, cs, bs, dproj, true);
        return cudaGetLastError();
    }
    const dim3 nb(unsigned(std::min<int64_t>(det::gridFor(items, 8), 1024)), 2);  // 8 warps
    if (d.N <= 128)
        normBackward<4><<<nb, 256, 0, s>>>(d, proj, rows, cs, bs, dproj, false);
    else
        normBackward<kMaxNJ><<<nb, 256, 0, s>>>(d, proj, rows, cs, bs, dproj, false);
    const dim3 bb(det::gridFor(cols, 256), unsigned((rows + kBiasChunk - 1) / kBiasChunk), 2);
    biasBackward<<<bb, 256, 0, s>>>(d, rows, dq, dk, g.cBias, g.bBias);
    return cudaGetLastError();
}

}  // namespace lectern::train::cuda
