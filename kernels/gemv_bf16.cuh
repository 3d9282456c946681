// The one weight-streaming GEMV behind gemv_bf16.cu (plain projections at decode sizes) and
// decode_gemv.cu (the fused decode step's in_proj, out_proj and LM head): out [rows, outF]
// = act [rows, inF] · Wᵀ with W in bf16, activations and accumulation in fp32, at most
// kGemvMaxRows activation rows.
// A warp owns whole output rows (o = global warp, + all warps, ...) and walks each row in
// units of kSeg × 256 columns (kSeg 16-byte loads a lane, coalesced 512 bytes a warp
// instruction). The next unit's loads are issued before the current unit is multiplied, so
// a warp always has one unit (4 KB at kSeg 8) in flight; the grid is what stays resident
// (occupancy × multiprocessors), so the weights stream at the copy rate instead of in
// waves of short-lived blocks.
// Programmatic dependent launch (decode_pdl.cuh): the first unit's weights do not depend on
// the previous kernel, so they are loaded before griddepcontrol.wait; launched without the
// PDL attribute the wait returns at once.
// Per lane the products are summed in the order k = lane·8 + 256·i ascending, the same as
// before the split into units, so results are unchanged to the bit.
#pragma once

#include <cuda_bf16.h>

#include "common.cuh"
#include "cuda/cuda_ops.h"
#include "decode_pdl.cuh"

namespace lectern::cuda::detail {

constexpr int kGemvThreads = 256;
constexpr int kGemvSeg = 8;  // 16-byte loads a lane per unit: 2048 bf16 columns a unit

template <int kSeg>
__device__ __forceinline__ void gemvLoadUnit(uint4 (&w)[kSeg], const __nv_bfloat16* row, int k0,
                                             int lane, int inF) {
#pragma unroll
    for (int i = 0; i < kSeg; ++i) {
        const int k = k0 + i * 256 + lane * 8;
        w[i] = k < inF ? __ldg(reinterpret_cast<const uint4*>(row + k)) : make_uint4(0, 0, 0, 0);
    }
}

template <int kRows, int kSeg>
__device__ __forceinline__ void gemvDotUnit(float (&acc)[kRows], const uint4 (&w)[kSeg],
                                            const float* act, int64_t ld, int k0, int lane,
                                            int inF) {
#pragma unroll
    for (int i = 0; i < kSeg; ++i) {
        const int k = k0 + i * 256 + lane * 8;
        if (k >= inF) break;
        const __nv_bfloat162* p = reinterpret_cast<const __nv_bfloat162*>(&w[i]);
        float wf[8];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const float2 f = __bfloat1622float2(p[j]);
            wf[2 * j] = f.x;
            wf[2 * j + 1] = f.y;
        }
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
            const float4 a0 = *reinterpret_cast<const float4*>(act + r * ld + k);
            const float4 a1 = *reinterpret_cast<const float4*>(act + r * ld + k + 4);
            acc[r] += a0.x * wf[0] + a0.y * wf[1] + a0.z * wf[2] + a0.w * wf[3] + a1.x * wf[4] +
                      a1.y * wf[5] + a1.z * wf[6] + a1.w * wf[7];
        }
    }
}

// act = RMSNorm(in rows; normW, eps) staged in shared memory xs ([kRows, inF] floats),
// computed as add_rmsnorm.cu does (256 threads, the same strides and block reduction) so
// the normalised rows are the same floats.
template <int kRows>
__device__ __forceinline__ void gemvNormRows(float* xs, const float* in, int64_t ldIn,
                                             const float* __restrict__ normW, float eps, int inF) {
    __shared__ float red[32];
    for (int r = 0; r < kRows; ++r) {
        const float* src = in + r * ldIn;
        float ss = 0.0f;
        for (int i = threadIdx.x; i < inF; i += kGemvThreads) {
            const float v = src[i];
            ss += v * v;
        }
        const float scale = rsqrtf(blockSum(ss, red) / float(inF) + eps);
        for (int i = threadIdx.x; i < inF; i += kGemvThreads)
            xs[r * inF + i] = src[i] * scale * normW[i];
    }
    __syncthreads();
}

// Row o is complete: its kRows sums reduced over the warp and written (added with kAddOut).
template <int kRows, bool kAddOut>
__device__ __forceinline__ void gemvRowDone(float (&acc)[kRows], float* out, int outF, int o,
                                            int lane) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
        const float v = warpSum(acc[r]);
        acc[r] = 0.0f;
        if (lane == 0) {
            if constexpr (kAddOut)
                out[int64_t(r) * outF + o] += v;
            else
                out[int64_t(r) * outF + o] = v;
        }
    }
}

// Once a GEMV's first weight loads are in flight: let the next kernel start, wait for what
// the previous one wrote, then the activation rows (with kNorm, normalised into shared
// memory xs) and their leading dimension.
template <int kRows, bool kNorm>
__device__ __forceinline__ const float* gemvActivations(float* xs, const float* in, int64_t ldIn,
                                                        const float* normW, float eps, int inF,
                                                        int64_t& ld) {
    pdlLaunchDependents();
    pdlWait();  // everything below may read what the previous kernel wrote
    if constexpr (kNorm) gemvNormRows<kRows>(xs, in, ldIn, normW, eps, inF);
    ld = kNorm ? inF : ldIn;
    return kNorm ? xs : in;
}

// kNorm: act = gemvNormRows (dynamic shared memory). kAddOut: out += instead of =.
template <int kRows, bool kNorm, bool kAddOut>
__global__ void __launch_bounds__(kGemvThreads, 2)
    gemvBf16Kernel(float* __restrict__ out, const float* in, int64_t ldIn,
                   const float* __restrict__ normW, float eps, const __nv_bfloat16* __restrict__ W,
                   int outF, int inF) {
    constexpr int kWarps = kGemvThreads / 32;
    constexpr int kUnit = 256 * kGemvSeg;
    extern __shared__ float xs[];
    const int lane = threadIdx.x & 31;
    const int nWarps = int(gridDim.x) * kWarps;
    const int segs = (inF + kUnit - 1) / kUnit;
    int o = int(blockIdx.x) * kWarps + (threadIdx.x >> 5), seg = 0;
    uint4 cur[kGemvSeg];
    if (o < outF) gemvLoadUnit(cur, W + int64_t(o) * inF, 0, lane, inF);
    int64_t ld = 0;
    const float* act = gemvActivations<kRows, kNorm>(xs, in, ldIn, normW, eps, inF, ld);
    float acc[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
    while (o < outF) {
        int nextO = o, nextSeg = seg + 1;
        if (nextSeg == segs) {
            nextSeg = 0;
            nextO = o + nWarps;
        }
        uint4 nxt[kGemvSeg];
        if (nextO < outF) gemvLoadUnit(nxt, W + int64_t(nextO) * inF, nextSeg * kUnit, lane, inF);
        gemvDotUnit(acc, cur, act, ld, seg * kUnit, lane, inF);
        if (nextSeg == 0) gemvRowDone<kRows, kAddOut>(acc, out, outF, o, lane);
        o = nextO;
        seg = nextSeg;
#pragma unroll
        for (int i = 0; i < kGemvSeg; ++i) cur[i] = nxt[i];
    }
}

// The same GEMV with the weights brought in by the bulk copy engine (DecodeLaunch::gemvBulk):
// each warp keeps a ring of kBulkStages 4 KB units in shared memory, kBulkStages - 1 of them
// in flight, filled by cp.async.bulk (lane 0) and completed on an mbarrier a slot. More
// bytes in flight than the register version (one unit a warp) while holding few registers,
// so one block a multiprocessor streams at the copy rate and leaves room for the next
// kernel of the step to start beside it. Same units, same lanes, same sums: the results
// equal gemvBf16Kernel's to the bit. sm_90 only (the host launches it only with PDL).
constexpr int kBulkStages = 3;
constexpr int kUnitBytes = 256 * kGemvSeg * 2;

__device__ __forceinline__ uint32_t smemAddr(const void* p) {
    return uint32_t(__cvta_generic_to_shared(p));
}

template <int kRows, bool kNorm, bool kAddOut>
__global__ void __launch_bounds__(kGemvThreads, 1)
    gemvBf16BulkKernel(float* __restrict__ out, const float* in, int64_t ldIn,
                       const float* __restrict__ normW, float eps,
                       const __nv_bfloat16* __restrict__ W, int outF, int inF) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    constexpr int kWarps = kGemvThreads / 32;
    constexpr int kUnit = 256 * kGemvSeg;
    extern __shared__ __align__(128) unsigned char gemvSm[];
    __shared__ __align__(8) unsigned long long bars[kWarps * kBulkStages];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const uint4* ring = reinterpret_cast<const uint4*>(gemvSm) + warp * kBulkStages * 256;
    float* xs = reinterpret_cast<float*>(gemvSm + kWarps * kBulkStages * kUnitBytes);
    const uint32_t bar0 = smemAddr(bars + warp * kBulkStages);
    const int nWarps = int(gridDim.x) * kWarps;
    const int segs = (inF + kUnit - 1) / kUnit;
    if (lane == 0) {
        for (int i = 0; i < kBulkStages; ++i)
            asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(bar0 + 8 * i));
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncwarp();
    // The producer's cursor (po, ps) runs kBulkStages - 1 units ahead of the consumer's.
    int po = int(blockIdx.x) * kWarps + warp, ps = 0;
    const auto issue = [&](int stage) {
        if (lane == 0) {
            const int k0 = ps * kUnit;
            const uint32_t bytes = uint32_t(min(kUnit, inF - k0)) * 2u;
            const uint32_t bar = bar0 + 8 * stage;
            asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar),
                         "r"(bytes)
                         : "memory");
            asm volatile(
                "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], "
                "%2, [%3];" ::"r"(smemAddr(ring + stage * 256)),
                "l"(W + int64_t(po) * inF + k0), "r"(bytes), "r"(bar)
                : "memory");
        }
        if (++ps == segs) {
            ps = 0;
            po += nWarps;
        }
    };
    for (int i = 0; i < kBulkStages - 1 && po < outF; ++i) issue(i);
    int64_t ld = 0;
    const float* act = gemvActivations<kRows, kNorm>(xs, in, ldIn, normW, eps, inF, ld);
    float acc[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
    int o = int(blockIdx.x) * kWarps + warp, seg = 0, stage = 0;
    uint32_t phase = 0;
    while (o < outF) {
        // The slot consumed last round (all lanes past the __syncwarp below) takes the unit
        // kBulkStages - 1 ahead.
        if (po < outF) issue((stage + kBulkStages - 1) % kBulkStages);
        asm volatile(
            "{\n .reg .pred p;\n WAIT_%=:\n"
            " mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
            " @!p bra WAIT_%=;\n}" ::"r"(bar0 + 8 * stage),
            "r"(phase)
            : "memory");
        uint4 w[kGemvSeg];
        const int k0 = seg * kUnit;
#pragma unroll
        for (int i = 0; i < kGemvSeg; ++i)
            w[i] = k0 + i * 256 + lane * 8 < inF ? ring[stage * 256 + i * 32 + lane]
                                                 : make_uint4(0, 0, 0, 0);
        gemvDotUnit(acc, w, act, ld, k0, lane, inF);
        if (++seg == segs) {
            gemvRowDone<kRows, kAddOut>(acc, out, outF, o, lane);
            seg = 0;
            o += nWarps;
        }
        __syncwarp();  // every lane has read the slot before lane 0 refills it
        if (++stage == kBulkStages) {
            stage = 0;
            phase ^= 1u;
        }
    }
#endif
}

// Whether the kernel applies: 16-byte aligned operands, inF % 8 == 0, ldIn % 4 == 0, and for
// kNorm the staged rows within 48 KB of shared memory (no opt-in).
inline bool gemvBf16Applies(const float* in, int64_t ldIn, const void* Wbf16, int64_t outF,
                            int64_t inF, int64_t rows, bool norm) {
    const auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
    if (rows < 1 || rows > 4 || !Wbf16 || inF % 8 != 0 || ldIn % 4 != 0 || !aligned(in) ||
        !aligned(Wbf16) || outF > (int64_t(1) << 30) || inF > (int64_t(1) << 30))
        return false;
    return !norm || size_t(rows) * size_t(inF) * sizeof(float) <= 48 * 1024;
}

// Launches gemvBf16Kernel (gemvBf16BulkKernel with how.gemvBulk) for `rows` (1..4)
// activation rows with as many blocks as stay resident (at most one warp per output row).
// how.pdl: with the programmatic-launch attribute.
template <bool kNorm, bool kAddOut>
cudaError_t gemvBf16Launch(int64_t rows, float* out, const float* in, int64_t ldIn,
                           const float* normW, float eps, const __nv_bfloat16* W, int64_t outF,
                           int64_t inF, const DecodeLaunch& how, cudaStream_t s) {
    const bool bulk = how.gemvBulk && how.pdl;  // PDL implies sm_90 (decode_pdl_enabled)
    const size_t norm = kNorm ? size_t(rows) * size_t(inF) * sizeof(float) : 0;
    const size_t ringBytes = size_t(kGemvThreads / 32) * kBulkStages * kUnitBytes;
    const size_t smem = bulk ? ringBytes + norm : norm;
    auto go = [&](auto kernel) {
        if (bulk && smem > 48 * 1024 &&
            cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 int(ringBytes + 48 * 1024)) != cudaSuccess)
            return cudaGetLastError();
        const int64_t want = (outF + kGemvThreads / 32 - 1) / (kGemvThreads / 32);
        const int64_t resident = int64_t(residentBlocks(kernel, kGemvThreads, smem));
        const unsigned blocks = unsigned(std::max<int64_t>(1, std::min(want, resident)));
        return launchMaybePdl(how.pdl, kernel, dim3(blocks), dim3(kGemvThreads), smem, s, out, in,
                              ldIn, normW, eps, W, int(outF), int(inF));
    };
    switch (rows) {
        case 1:
            return bulk ? go(gemvBf16BulkKernel<1, kNorm, kAddOut>)
                        : go(gemvBf16Kernel<1, kNorm, kAddOut>);
        case 2:
            return bulk ? go(gemvBf16BulkKernel<2, kNorm, kAddOut>)
                        : go(gemvBf16Kernel<2, kNorm, kAddOut>);
        case 3:
            return bulk ? go(gemvBf16BulkKernel<3, kNorm, kAddOut>)
                        : go(gemvBf16Kernel<3, kNorm, kAddOut>);
        default:
            return bulk ? go(gemvBf16BulkKernel<4, kNorm, kAddOut>)
                        : go(gemvBf16Kernel<4, kNorm, kAddOut>);
    }
}

}  // namespace lectern::cuda::detail
