// The decode step's projections with their neighbours folded in (bf16 weights, fp32
// activations, at most kGemvMaxRows rows): in_proj and the LM head take the RMSNorm of the
// residual as a prologue (each block normalises the few rows into shared memory: the
// rows are 8 KB, the weights tens of MB), and out_proj adds its result into the residual
// as an epilogue, so the separate add+RMSNorm launch per layer goes away. The kernel is
// gemv_bf16.cuh's (shared with gemv_bf16.cu): a warp streams whole weight rows with the
// next unit's loads in flight, the grid stays resident, so the prologue is paid a few
// hundred times, not once per 8 features. With pdl the launches overlap the previous
// kernel's tail (decode_pdl.cuh).
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "cuda/cuda_ops.h"
#include "gemv_bf16.cuh"

namespace lectern::cuda {

bool decode_pdl_enabled() {
    // Programmatic dependent launch needs sm_90; LECTERN_DECODE_PDL=0 turns it off (A/B).
    static const bool hopper = [] {
        int dev = 0, major = 0;
        if (cudaGetDevice(&dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess)
            return false;
        return major >= 9;
    }();
    const char* e = std::getenv("LECTERN_DECODE_PDL");
    return hopper && !(e && std::strcmp(e, "0") == 0);
}

DecodeLaunch decode_launch_options(int batch, bool gemv) {
    // An environment switch "0" or "1", else the default.
    const auto knob = [](const char* name, bool fallback) {
        const char* e = std::getenv(name);
        return e && (std::strcmp(e, "0") == 0 || std::strcmp(e, "1") == 0) ? e[0] == '1' : fallback;
    };
    DecodeLaunch how;
    how.pdl = gemv && decode_pdl_enabled();
    how.gemvBulk = how.pdl && knob("LECTERN_DECODE_GEMV_BULK", batch <= kDecodeGemvBulkMaxBatch);
    how.compactMixer =
        knob("LECTERN_DECODE_MIXER_COMPACT", batch >= kDecodeCompactMixerFromBatch || how.gemvBulk);
    return how;
}

bool decode_norm_gemv_forward(float* out, const float* residual, int64_t ldIn, const float* normW,
                              float eps, const DeviceMatrix& W, int64_t rows,
                              const DecodeLaunch& how, cudaStream_t s) {
    if (rows > kGemvMaxRows ||
        !detail::gemvBf16Applies(residual, ldIn, W.bf16, W.rows, W.cols, rows, true))
        return false;
    return detail::gemvBf16Launch<true, false>(rows, out, residual, ldIn, normW, eps,
                                               static_cast<const __nv_bfloat16*>(W.bf16), W.rows,
                                               W.cols, how, s) == cudaSuccess;
}

bool decode_gemv_add_forward(float* residual, const float* in, int64_t ldIn, const DeviceMatrix& W,
                             int64_t rows, const DecodeLaunch& how, cudaStream_t s) {
    if (rows > kGemvMaxRows ||
        !detail::gemvBf16Applies(in, ldIn, W.bf16, W.rows, W.cols, rows, false))
        return false;
    return detail::gemvBf16Launch<false, true>(rows, residual, in, ldIn, nullptr, 0.0f,
                                               static_cast<const __nv_bfloat16*>(W.bf16), W.rows,
                                               W.cols, how, s) == cudaSuccess;
}

bool decode_norm_gemv_forward(float* out, const float* residual, int64_t ldIn, const float* normW,
                              float eps, const DeviceMatrix& W, int64_t rows, cudaStream_t s) {
    return decode_norm_gemv_forward(out, residual, ldIn, normW, eps, W, rows, DecodeLaunch{}, s);
}

bool decode_gemv_add_forward(float* residual, const float* in, int64_t ldIn, const DeviceMatrix& W,
                             int64_t rows, cudaStream_t s) {
    return decode_gemv_add_forward(residual, in, ldIn, W, rows, DecodeLaunch{}, s);
}

}  // namespace lectern::cuda
