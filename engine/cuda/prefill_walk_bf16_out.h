// The prefill walk's variants (kernels/ssm_prefill_scan_bf16.cu): the gate's output in bf16,
// and the training forward's. Kept out of cuda_ops.h so that adding them rebuilds only their
// users.
#pragma once

#include "cuda/cuda_ops.h"

namespace lectern::cuda {

// ssm_prefill_scan_forward with a gate whose output goes to outBf16 ([rows, H·P] bf16,
// 16-byte aligned) instead of gate.out: out_proj's input for linear_bf16_input_forward, with
// no fp32 gated rows and no conversion pass (issue 4). gate.out is ignored.
cudaError_t ssm_prefill_scan_forward_bf16_gate(const ops::Mamba3Dims& d,
                                               const ops::SsmScanInputs& in, int64_t batch,
                                               int64_t T, const ops::SsmStateRef& st,
                                               const ScanWorkspace& ws, cudaStream_t s,
                                               const PrefillGate& gate, void* outBf16,
                                               int segments = 0);

// ssm_prefill_scan_forward without a gate (y [rows, H·P] fp32, 16-byte aligned) that also
// writes the fp32 state entering every ckptStride-th 64-token chunk of each document to ckpt
// ([batch, nChk, H, P, N], nChk = ⌈⌈T/64⌉/ckptStride⌉, 16-byte aligned): the training scan's
// forward and its checkpoints (training/cuda/model_train_cuda.cpp) in one walk, instead of the
// three-pass chunked scan and a gather of its chunk states.
cudaError_t ssm_prefill_scan_forward_checkpoints(const ops::Mamba3Dims& d,
                                                 const ops::SsmScanInputs& in, int64_t batch,
                                                 int64_t T, float* y, const ops::SsmStateRef& st,
                                                 const ScanWorkspace& ws, cudaStream_t s,
                                                 float* ckpt, int ckptStride, int segments = 0);

}  // namespace lectern::cuda
