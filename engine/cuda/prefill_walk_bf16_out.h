// The prefill walk with the gate's output in bf16 (kernels/ssm_prefill_scan_bf16.cu), kept
// out of cuda_ops.h so that adding it rebuilds only its users.
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

}  // namespace lectern::cuda
