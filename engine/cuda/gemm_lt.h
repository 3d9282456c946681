// The bf16 GEMMs through cuBLASLt (issue 4): cublasGemmEx(CUBLAS_GEMM_DEFAULT) leaves the
// algorithm to a choice we cannot steer; Lt lets us pick among the heuristic's candidates.
// The pick is deterministic: the heuristic's list is the same for the same device, library
// and shape, and we take its first entry unless a table measured on sm_90
// (kernels/gemm_lt.cu, from tests/bench/bench_gemm_lt) names a faster one for the exact
// shape. No timing happens at run time, so two runs of a binary give identical bits.
// A Context (cuda_context.h) attaches an Lt handle and a fixed workspace to its cuBLAS
// handle; callers holding only a cublasHandle_t (GemmContext, the training backward) find
// them here. LECTERN_GEMM_LT=0 turns the Lt path off (cublasGemmEx, for A/B measurements).
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <vector>

#include "cuda/cuda_ops.h"

namespace lectern::cuda {

// Column-major D [m, n] = op(A) · op(B), or D += op(A) · op(B) where accumulate (beta 1,
// C = D). A and B bf16, fp32 accumulation, D fp32 or bf16.
struct LtGemm {
    bool transA = false, transB = false;
    int m = 0, n = 0, k = 0;
    const void* A = nullptr;
    int lda = 0;
    const void* B = nullptr;
    int ldb = 0;
    void* D = nullptr;
    int ldd = 0;
    bool outBf16 = false;
    bool accumulate = false;
};

// Binds lt and its workspace (device memory, owned by the caller, never reallocated so that
// graph capture does not allocate) to h until gemm_lt_detach(h).
void gemm_lt_attach(cublasHandle_t h, cublasLtHandle_t lt, void* workspace, size_t bytes);
void gemm_lt_detach(cublasHandle_t h);

// g on s through the Lt handle attached to h. -1 where none is attached or the Lt path is
// off (the caller then uses cublasGemmEx); else a cublasStatus_t (0 ok).
int gemm_lt_run(cublasHandle_t h, const LtGemm& g, cudaStream_t s);

// For the benchmark: the heuristic's candidates for g (up to maxCount; pointer alignments
// and the workspace limit as gemm_lt_run asks), the index gemm_lt_run takes among them on
// a device of compute capability sm (e.g. 90), and one run of a given candidate.
int gemm_lt_candidates(cublasLtHandle_t lt, const LtGemm& g, size_t workspaceBytes, int maxCount,
                       std::vector<cublasLtMatmulHeuristicResult_t>& out);
int gemm_lt_choice(const LtGemm& g, const std::vector<cublasLtMatmulHeuristicResult_t>& cands,
                   int sm);
int gemm_lt_run_algo(cublasLtHandle_t lt, const LtGemm& g, const cublasLtMatmulAlgo_t& algo,
                     void* workspace, size_t workspaceBytes, cudaStream_t s);

// out [rows, W.rows] += in · Wᵀ with in bf16 (dense rows): linear_bf16_input_forward adding
// into out in the GEMM's epilogue (beta 1). The prefill's out_proj adds into the residual so
// that the next norm reads one tensor less (kernels/linear.cu). Needs W.bf16.
int linear_bf16_input_add(GemmContext& g, float* out, const void* in, const DeviceMatrix& W,
                          int64_t rows, cudaStream_t s);

// An algorithm's configuration, for tables and logs.
struct LtAlgoConfig {
    int id = 0, tile = 0, stages = 0, splitK = 0, reduction = 0, swizzle = 0, custom = 0,
        cluster = 0;
};
LtAlgoConfig gemm_lt_config(const cublasLtMatmulAlgo_t& algo);

}  // namespace lectern::cuda
