// The bf16 GEMMs through cuBLASLt (issue 4): cublasGemmEx(CUBLAS_GEMM_DEFAULT) leaves the
// algorithm to a choice we cannot steer; Lt lets us name the kernel. The pick is
// deterministic: a table measured on sm_90 (kernels/gemm_lt.cu, from bench_gemm_lt's search
// over every algorithm id and its configurations) names a full configuration for the exact
// shape; it is built with cublasLtMatmulAlgoInit and checked with cublasLtMatmulAlgoCheck
// when the shape's plan is made, and where there is no entry or the check fails (another
// device or library) the heuristic's first candidate runs. No timing happens at run time, so
// two runs of a binary give identical bits.
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

// Cached plans, all handles together; at most kMaxLtPlans (the cache is emptied when full).
inline constexpr size_t kMaxLtPlans = 256;
size_t gemm_lt_plan_count();

// An algorithm's configuration: what a table entry names and the search varies.
struct LtAlgoConfig {
    int id = 0, tile = 0, stages = 0, splitK = 1, reduction = 0, swizzle = 0, custom = 0,
        cluster = 0, inner = 0;
};
inline bool same_config(const LtAlgoConfig& x, const LtAlgoConfig& y) {
    return x.id == y.id && x.tile == y.tile && x.stages == y.stages && x.splitK == y.splitK &&
           x.reduction == y.reduction && x.swizzle == y.swizzle && x.custom == y.custom &&
           x.cluster == y.cluster && x.inner == y.inner;
}
LtAlgoConfig gemm_lt_config(const cublasLtMatmulAlgo_t& algo);

// For the benchmark: the heuristic's candidates for g (up to maxCount; pointer alignments
// and the workspace limit as gemm_lt_run asks) and one run of a given algorithm.
int gemm_lt_candidates(cublasLtHandle_t lt, const LtGemm& g, size_t workspaceBytes, int maxCount,
                       std::vector<cublasLtMatmulHeuristicResult_t>& out);
int gemm_lt_run_algo(cublasLtHandle_t lt, const LtGemm& g, const cublasLtMatmulAlgo_t& algo,
                     void* workspace, size_t workspaceBytes, cudaStream_t s);

// The search's pieces: the algorithm ids for g's types; an algorithm of one id with its
// defaults (to read its capabilities); and an algorithm of configuration c, checked against
// g's layouts, pointer alignments and the workspace limit (cublasLtMatmulAlgoCheck). 0 when
// it may run (*workspaceNeeded set where given), else a cublasStatus_t.
int gemm_lt_algo_ids(cublasLtHandle_t lt, const LtGemm& g, std::vector<int>& ids);
int gemm_lt_init_algo(cublasLtHandle_t lt, const LtGemm& g, int id, cublasLtMatmulAlgo_t& out);
int gemm_lt_make_algo(cublasLtHandle_t lt, const LtGemm& g, const LtAlgoConfig& c,
                      size_t workspaceBytes, cublasLtMatmulAlgo_t& out,
                      size_t* workspaceNeeded = nullptr);

// The configuration the table names for g's shape on a device of compute capability sm
// (e.g. 90); false where it names none.
bool gemm_lt_table_config(const LtGemm& g, int sm, LtAlgoConfig& out);

// out [rows, W.rows] += in · Wᵀ with in bf16 (dense rows): linear_bf16_input_forward adding
// into out in the GEMM's epilogue (beta 1). The prefill's out_proj adds into the residual so
// that the next norm reads one tensor less (kernels/linear.cu). Needs W.bf16.
int linear_bf16_input_add(GemmContext& g, float* out, const void* in, const DeviceMatrix& W,
                          int64_t rows, cudaStream_t s);

}  // namespace lectern::cuda
