// CUDA twin of training/backward/linear_backward.cpp, out = in · Wᵀ:
//   din += dout · W      [rows, outF] x [outF, inF]   (din = where dinWritten: beta 0)
//   dW  += doutᵀ · in    [outF, rows] x [rows, inF]
// cuBLAS is column-major: a row-major [r, c] matrix is its transpose, so
//   dinᵀ [inF, rows] += Wᵀ [inF, outF] · doutᵀ [outF, rows]     (N, N)
//   dWᵀ  [inF, outF] += inᵀ [inF, rows] · dout [rows, outF]      (N, T)
#include <cublas_v2.h>

#include "cuda/gemm_lt.h"
#include "training/cuda/ops_backward_cuda.h"

namespace lectern::train::cuda {

int linear_backward(cublasHandle_t h, float* din, int64_t ldDin, float* dW, const float* dout,
                    const float* in, int64_t ldIn, const float* W, int64_t rows, int64_t inF,
                    int64_t outF, cudaStream_t s, bool tf32, bool dinWritten) {
    if (rows <= 0 || inF <= 0 || outF <= 0) return 0;
    // As linear_forward: cublasSetStream resets the workspace, so only on a change.
    cudaStream_t cur = nullptr;
    cublasGetStream(h, &cur);
    if (cur != s) cublasSetStream(h, s);
    cublasSetMathMode(h, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH);
    const float one = 1.0f, zero = 0.0f;
    const float* dinBeta = dinWritten ? &zero : &one;
    if (din != nullptr) {
        const cublasStatus_t st =
            cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, int(inF), int(rows), int(outF), &one, W,
                        int(inF), dout, int(outF), dinBeta, din, int(ldDin));
        if (st != CUBLAS_STATUS_SUCCESS) return int(st);
    }
    return int(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, int(inF), int(outF), int(rows), &one, in,
                           int(ldIn), dout, int(outF), &one, dW, int(inF)));
}

int linear_backward_bf16(cublasHandle_t h, float* din, int64_t ldDin, float* dW, const void* dout,
                         const void* in, int64_t ldIn, const void* W, int64_t rows, int64_t inF,
                         int64_t outF, cudaStream_t s, bool dinWritten) {
    if (rows <= 0 || inF <= 0 || outF <= 0) return 0;
    cudaStream_t cur = nullptr;
    cublasGetStream(h, &cur);
    if (cur != s) cublasSetStream(h, s);
    // The default math mode: the other forms may have left the handle pedantic.
    cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
    const float one = 1.0f, zero = 0.0f;
    const float* dinBeta = dinWritten ? &zero : &one;
    // Through cuBLASLt where the handle has one attached (engine/cuda/gemm_lt.h), else GemmEx.
    lectern::cuda::LtGemm dg;
    dg.m = int(inF), dg.n = int(rows), dg.k = int(outF);
    dg.A = W, dg.lda = int(inF), dg.B = dout, dg.ldb = int(outF), dg.D = din, dg.ldd = int(ldDin);
    dg.accumulate = !dinWritten;
    lectern::cuda::LtGemm wg;
    wg.transB = true;
    wg.m = int(inF), wg.n = int(outF), wg.k = int(rows);
    wg.A = in, wg.lda = int(ldIn), wg.B = dout, wg.ldb = int(outF), wg.D = dW, wg.ldd = int(inF);
    wg.accumulate = true;
    if (din != nullptr) {
        if (const int e = lectern::cuda::gemm_lt_run(h, dg, s); e >= 0) {
            if (e != 0) return e;
            return lectern::cuda::gemm_lt_run(h, wg, s);
        }
        const cublasStatus_t st =
            cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, int(inF), int(rows), int(outF), &one, W,
                         CUDA_R_16BF, int(inF), dout, CUDA_R_16BF, int(outF), dinBeta, din,
                         CUDA_R_32F, int(ldDin), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        if (st != CUBLAS_STATUS_SUCCESS) return int(st);
    }
    if (const int e = lectern::cuda::gemm_lt_run(h, wg, s); e >= 0) return e;
    return int(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_T, int(inF), int(outF), int(rows), &one, in,
                            CUDA_R_16BF, int(ldIn), dout, CUDA_R_16BF, int(outF), &one, dW,
                            CUDA_R_32F, int(inF), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace lectern::train::cuda
