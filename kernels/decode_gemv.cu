// The decode step's projections with their neighbours folded in (bf16 weights, fp32
// activations, at most kGemvMaxRows rows): in_proj and the LM head take the RMSNorm of the
// residual as a prologue (each block normalises the few rows into shared memory: the
// rows are 8 KB, the weights tens of MB), and out_proj adds its result into the residual
// as an epilogue, so the separate add+RMSNorm launch per layer goes away. A warp per output
// feature streams its weight row with 16-byte loads, as gemv_bf16.cu; the grid is capped at
// a few blocks per multiprocessor and warps loop over features, so the prologue is paid a
// few hundred times, not once per 8 features.
// The prologue's sum of squares runs as add_rmsnorm.cu's (256 threads, the same strides
// and block reduction), so the normalised rows are the same floats.
#include <cuda_bf16.h>

#include "common.cuh"
#include "cuda/cuda_ops.h"

namespace lectern::cuda {
namespace {

constexpr int kThreads = 256;

template <int kRows, bool kNorm, bool kAddOut>
__global__ void __launch_bounds__(kThreads)
    decodeGemvKernel(float* __restrict__ out, const float* in, int64_t ldIn,
                     const float* __restrict__ normW, float eps,
                     const __nv_bfloat16* __restrict__ W, int outF, int inF) {
    extern __shared__ float xs[];  // kNorm: [kRows, inF]
    if constexpr (kNorm) {
        __shared__ float red[32];
        for (int r = 0; r < kRows; ++r) {
            const float* src = in + r * ldIn;
            float ss = 0.0f;
            for (int i = threadIdx.x; i < inF; i += kThreads) {
                const float v = src[i];
                ss += v * v;
            }
            const float scale = rsqrtf(detail::blockSum(ss, red) / float(inF) + eps);
            for (int i = threadIdx.x; i < inF; i += kThreads)
                xs[r * inF + i] = src[i] * scale * normW[i];
        }
        __syncthreads();
    }
    const float* act = kNorm ? xs : in;
    const int64_t ld = kNorm ? inF : ldIn;
    const int lane = threadIdx.x & 31;
    const int warps = int(gridDim.x) * (kThreads / 32);
    for (int o = int(blockIdx.x) * (kThreads / 32) + (threadIdx.x >> 5); o < outF; o += warps) {
        const __nv_bfloat16* w = W + int64_t(o) * inF;
        float acc[kRows];
#pragma unroll
        for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
#pragma unroll 4
        for (int k = lane * 8; k < inF; k += 256) {
            const uint4 raw = __ldg(reinterpret_cast<const uint4*>(w + k));
            const __nv_bfloat162* p = reinterpret_cast<const __nv_bfloat162*>(&raw);
            float wf[8];
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const float2 f = __bfloat1622float2(p[i]);
                wf[2 * i] = f.x;
                wf[2 * i + 1] = f.y;
            }
#pragma unroll
            for (int r = 0; r < kRows; ++r) {
                const float4 a0 = *reinterpret_cast<const float4*>(act + r * ld + k);
                const float4 a1 = *reinterpret_cast<const float4*>(act + r * ld + k + 4);
                acc[r] += a0.x * wf[0] + a0.y * wf[1] + a0.z * wf[2] + a0.w * wf[3] + a1.x * wf[4] +
                          a1.y * wf[5] + a1.z * wf[6] + a1.w * wf[7];
            }
        }
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
            const float v = detail::warpSum(acc[r]);
            if (lane == 0) {
                if constexpr (kAddOut)
                    out[int64_t(r) * outF + o] += v;
                else
                    out[int64_t(r) * outF + o] = v;
            }
        }
    }
}

int smCount() {
    static int sms = [] {
        int n = 132, dev = 0;
        if (cudaGetDevice(&dev) == cudaSuccess)
            cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev);
        return n;
    }();
    return sms;
}

template <int kRows, bool kNorm, bool kAddOut>
void launch(float* out, const float* in, int64_t ldIn, const float* normW, float eps,
            const DeviceMatrix& W, cudaStream_t s) {
    const int64_t want = (W.rows + kThreads / 32 - 1) / (kThreads / 32);
    const unsigned blocks = unsigned(std::min<int64_t>(want, int64_t(smCount()) * 4));
    const size_t smem = kNorm ? size_t(kRows) * size_t(W.cols) * sizeof(float) : 0;
    decodeGemvKernel<kRows, kNorm, kAddOut><<<blocks, kThreads, smem, s>>>(
        out, in, ldIn, normW, eps, static_cast<const __nv_bfloat16*>(W.bf16), int(W.rows),
        int(W.cols));
}

template <bool kNorm, bool kAddOut>
void dispatch(int64_t rows, float* out, const float* in, int64_t ldIn, const float* normW,
              float eps, const DeviceMatrix& W, cudaStream_t s) {
    switch (rows) {
        case 1:
            launch<1, kNorm, kAddOut>(out, in, ldIn, normW, eps, W, s);
            break;
        case 2:
            launch<2, kNorm, kAddOut>(out, in, ldIn, normW, eps, W, s);
            break;
        case 3:
            launch<3, kNorm, kAddOut>(out, in, ldIn, normW, eps, W, s);
            break;
        default:
            launch<4, kNorm, kAddOut>(out, in, ldIn, normW, eps, W, s);
            break;
    }
}

bool applies(const float* in, int64_t ldIn, const DeviceMatrix& W, int64_t rows, bool norm) {
    const auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
    if (rows < 1 || rows > kGemvMaxRows || !W.bf16 || W.cols % 8 != 0 || ldIn % 4 != 0 ||
        !aligned(in) || !aligned(W.bf16) || W.rows > (int64_t(1) << 30))
        return false;
    // The normalised rows live in shared memory (48 KB without an opt-in).
    return !norm || size_t(rows) * size_t(W.cols) * sizeof(float) <= 48 * 1024;
}

}  // namespace

bool decode_norm_gemv_forward(float* out, const float* residual, int64_t ldIn, const float* normW,
                              float eps, const DeviceMatrix& W, int64_t rows, cudaStream_t s) {
    if (!applies(residual, ldIn, W, rows, true)) return false;
    dispatch<true, false>(rows, out, residual, ldIn, normW, eps, W, s);
    return true;
}

bool decode_gemv_add_forward(float* residual, const float* in, int64_t ldIn, const DeviceMatrix& W,
                             int64_t rows, cudaStream_t s) {
    if (!applies(in, ldIn, W, rows, false)) return false;
    dispatch<false, true>(rows, residual, in, ldIn, nullptr, 0.0f, W, s);
    return true;
}

}  // namespace lectern::cuda
