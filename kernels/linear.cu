// CUDA twin of engine/cpu/linear.cpp: out = in · Wᵀ through cuBLAS. Row-major out [rows,
// outF] is column-major outᵀ, so the call is C = Wᵀ · inᵀ with W read transposed. Fp32
// mode: plain sgemm (no TF32; the correctness mode). Tf32: sgemm on tensor cores. Bf16:
// activations rounded to bf16 into the context's scratch, GemmEx (cuBLASLt where attached:
// gemm_lt.h) with fp32 accumulation and fp32 output (bf16 output for the bf16 prefill's
// in_proj: linear_bf16_io_forward, prefill_proj_bf16.h); decode-sized inputs (<= kGemvMaxRows
// rows) take gemv_bf16_forward.
#include <cublas_v2.h>
#include <cuda_bf16.h>

#include "common.cuh"
#include "cuda/cuda_ops.h"
#include "cuda/gemm_lt.h"
#include "cuda/prefill_proj_bf16.h"

namespace lectern::cuda {
namespace {

__global__ void toBf16Strided(__nv_bfloat16* dst, const float* src, int64_t rows, int64_t cols,
                              int64_t ld) {
    const int64_t n = rows * cols;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t r = i / cols, c = i - r * cols;
        dst[i] = __float2bfloat16(src[r * ld + c]);
    }
}

// Dense rows (ld == cols, cols % 4 == 0, 16-byte aligned: the prefill's out_proj input):
// four floats a load, two bf16 pairs a store.
__global__ void toBf16Dense4(__nv_bfloat162* dst, const float4* src, int64_t n4) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n4;
         i += int64_t(gridDim.x) * blockDim.x) {
        const float4 v = src[i];
        dst[2 * i] = __floats2bfloat162_rn(v.x, v.y);
        dst[2 * i + 1] = __floats2bfloat162_rn(v.z, v.w);
    }
}

// cublasSetStream resets the workspace to cuBLAS's own pool, so only call it when the
// stream really changes (the model's context binds its stream and workspace once; graph
// capture must not allocate).
void bindStream(GemmContext& g, cudaStream_t s) {
    cudaStream_t cur = nullptr;
    cublasGetStream(g.handle, &cur);
    if (cur != s) cublasSetStream(g.handle, s);
}

// Through cuBLASLt where the handle has one attached (engine/cuda/gemm_lt.h), else GemmEx;
// accumulate: out += (beta 1). out: fp32, or bf16 where outBf16, rows ldOut apart (0: W.rows).
int gemmBf16(GemmContext& g, void* out, const void* a, const DeviceMatrix& W, int64_t rows,
             cudaStream_t s, bool accumulate = false, bool outBf16 = false, int64_t ldOut = 0) {
    const float one = 1.0f, zero = 0.0f;
    const int m = int(W.rows), n = int(rows), k = int(W.cols), ldd = ldOut ? int(ldOut) : m;
    LtGemm lt;
    lt.transA = true;
    lt.m = m, lt.n = n, lt.k = k;
    lt.A = W.bf16, lt.lda = k, lt.B = a, lt.ldb = k, lt.D = out, lt.ldd = ldd;
    lt.outBf16 = outBf16;
    lt.accumulate = accumulate;
    if (const int e = gemm_lt_run(g.handle, lt, s); e >= 0) return e;
    return int(cublasGemmEx(g.handle, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, W.bf16, CUDA_R_16BF,
                            k, a, CUDA_R_16BF, k, accumulate ? &one : &zero, out,
                            outBf16 ? CUDA_R_16BF : CUDA_R_32F, ldd, CUBLAS_COMPUTE_32F,
                            CUBLAS_GEMM_DEFAULT));
}

}  // namespace

int linear_bf16_input_forward(GemmContext& g, float* out, const void* in, const DeviceMatrix& W,
                              int64_t rows, cudaStream_t s) {
    if (rows <= 0 || W.rows <= 0) return 0;
    if (W.bf16 == nullptr) return int(CUBLAS_STATUS_INVALID_VALUE);
    bindStream(g, s);
    return gemmBf16(g, out, in, W, rows, s);
}

int linear_bf16_io_forward(GemmContext& g, void* out, int64_t ldOut, const void* in,
                           const DeviceMatrix& W, int64_t rows, cudaStream_t s) {
    if (rows <= 0 || W.rows <= 0) return 0;
    if (W.bf16 == nullptr || ldOut < W.rows) return int(CUBLAS_STATUS_INVALID_VALUE);
    bindStream(g, s);
    return gemmBf16(g, out, in, W, rows, s, false, true, ldOut);
}

int linear_bf16_input_add(GemmContext& g, float* out, const void* in, const DeviceMatrix& W,
                          int64_t rows, cudaStream_t s) {
    if (rows <= 0 || W.rows <= 0) return 0;
    if (W.bf16 == nullptr) return int(CUBLAS_STATUS_INVALID_VALUE);
    bindStream(g, s);
    return gemmBf16(g, out, in, W, rows, s, true);
}

int linear_forward(GemmContext& g, float* out, const float* in, int64_t ldIn, const DeviceMatrix& W,
                   int64_t rows, cudaStream_t s) {
    if (rows <= 0 || W.rows <= 0) return 0;
    const float one = 1.0f, zero = 0.0f;
    bindStream(g, s);
    const int m = int(W.rows), n = int(rows), k = int(W.cols);
    if (g.precision == Precision::Bf16 && W.bf16 != nullptr) {
        if (rows <= kGemvMaxRows && gemv_bf16_forward(out, in, ldIn, W, rows, s)) return 0;
        if (rows * W.cols > g.bf16ScratchElems) return int(CUBLAS_STATUS_INVALID_VALUE);
        auto* a = static_cast<__nv_bfloat16*>(g.bf16Scratch);
        const unsigned blocks =
            unsigned(std::min<int64_t>(detail::gridFor(rows * W.cols, 256), 8192));
        if (ldIn == W.cols && W.cols % 4 == 0 && (reinterpret_cast<uintptr_t>(in) & 15) == 0)
            toBf16Dense4<<<blocks, 256, 0, s>>>(reinterpret_cast<__nv_bfloat162*>(a),
                                                reinterpret_cast<const float4*>(in),
                                                rows * W.cols / 4);
        else
            toBf16Strided<<<blocks, 256, 0, s>>>(a, in, rows, W.cols, ldIn);
        return gemmBf16(g, out, a, W, rows, s);
    }
    cublasSetMathMode(g.handle, g.precision == Precision::Tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                               : CUBLAS_PEDANTIC_MATH);
    return int(cublasSgemm(g.handle, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, W.f32, k, in,
                           int(ldIn), &zero, out, m));
}

}  // namespace lectern::cuda
