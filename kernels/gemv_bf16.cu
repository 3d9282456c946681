// Decode-sized projections (at most kGemvMaxRows activation rows) in Bf16 mode: out [rows,
// outF] = in [rows, inF] · Wᵀ with W in bf16 and the activations kept in fp32. The cuBLAS
// path for N <= 4 first rounds the activations in a separate launch and ran at a fraction
// of the copy rate (NOTES-gpu.md); the weight-streaming kernel is gemv_bf16.cuh's, shared
// with the fused decode step (decode_gemv.cu). Launched without PDL: callers of linear_forward
// expect plain stream order.
#include "cuda/cuda_ops.h"
#include "gemv_bf16.cuh"

namespace lectern::cuda {

bool gemv_bf16_forward(float* out, const float* in, int64_t ldIn, const DeviceMatrix& W,
                       int64_t rows, cudaStream_t s) {
    if (rows > kGemvMaxRows || W.rows > (int64_t(1) << 26) ||
        !detail::gemvBf16Applies(in, ldIn, W.bf16, W.rows, W.cols, rows, false))
        return false;
    detail::gemvBf16Launch<false, false>(rows, out, in, ldIn, nullptr, 0.0f,
                                         static_cast<const __nv_bfloat16*>(W.bf16), W.rows, W.cols,
                                         DecodeLaunch{}, s);
    return true;
}

}  // namespace lectern::cuda
