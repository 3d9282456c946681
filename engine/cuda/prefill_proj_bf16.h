// The bf16 SISO prefill with in_proj's output in bf16 (issue 4): the GEMM writes bf16 rows
// (the official bf16 model's in_proj output is bf16 too) and its readers on that path, the
// fused q/k op and the walk, read them, so that in_proj writes and they read half the bytes.
// Rows of `ld` bf16 (ld >= dInProj, a multiple of 8, so that every row and each of its
// x, z, B and C parts is 16-byte aligned); columns as Mamba3Dims' offsets. Kept out of
// cuda_ops.h so that adding them rebuilds only their users.
#pragma once

#include "cuda/cuda_ops.h"

namespace lectern::cuda {

// The row stride of the bf16 in_proj rows: dInProj rounded up to a multiple of 8.
inline int64_t prefill_proj_bf16_stride(const ops::Mamba3Dims& d) {
    return (d.dInProj() + 7) / 8 * 8;
}

// out [rows, W.rows] bf16 (row stride ldOut >= W.rows) = in · Wᵀ with in [rows, W.cols] bf16
// (dense rows): linear_bf16_input_forward rounding its fp32 accumulation to bf16 once, in the
// GEMM's epilogue. Needs W.bf16. Returns a cuBLAS status (0 ok).
int linear_bf16_io_forward(GemmContext& g, void* out, int64_t ldOut, const void* in,
                           const DeviceMatrix& W, int64_t rows, cudaStream_t s);

// prefill_qk_angles_bf16_forward reading the bf16 in_proj rows (projBf16 [batch·T, ld],
// 16-byte aligned): the same outputs, from the same maths on the rows' bf16 values. False,
// launching nothing, where it does not apply (those of the fp32 op, the B/C weights and
// biases not 16-byte aligned, ld not a multiple of 8): widen the rows and use the fp32 op.
bool prefill_qk_angles_bf16_proj_forward(const ops::Mamba3Dims& d,
                                         const ops::Mamba3PreprocessParams& p, const void* projBf16,
                                         int64_t ld, int64_t batch, int64_t T, float* angleState,
                                         void* segScratch, size_t segScratchBytes, void* qb,
                                         void* kb, float* kLast, float* dt, float* adt, float* trap,
                                         cudaStream_t s);

// ssm_prefill_scan_forward_bf16_gate with x and z read from the bf16 in_proj rows (projBf16
// [batch·T, ld], 16-byte aligned; in.x, in.xStride and the gate's z are not read): the walk
// copies x's rows straight into its bf16 V operand (no fp32 staging, no conversion pass) and
// takes D·x from there; z likewise in bf16. The state's v (the last token's x) is the bf16
// value widened. normW: the gate's norm weight [H·P] or null; outBf16 as there.
// cudaErrorInvalidValue, launching nothing, where it does not apply (that op's conditions,
// ld not a multiple of 8).
cudaError_t ssm_prefill_scan_forward_bf16_proj(const ops::Mamba3Dims& d,
                                               const ops::SsmScanInputs& in, const void* projBf16,
                                               int64_t ld, int64_t batch, int64_t T,
                                               const ops::SsmStateRef& st, const ScanWorkspace& ws,
                                               cudaStream_t s, const float* normW, void* outBf16,
                                               int segments = 0);

}  // namespace lectern::cuda
