// The CUDA twin of the CPU memory-bounded SSM scan of training/backward/backward_ops.h
// (ssm_scan_forward_checkpoint / ssm_scan_backward_recompute): same maths, same layouts,
// for `batch` independent rows of T tokens each. Kernels: kernels/train/ssm_scan_*.cu.
// Derivation: training/NOTES-ssm_scan.md; design and numbers: training/NOTES-cuda.md.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "ops/mamba3_dims.h"
#include "ops/ssm_scan_common.h"
#include "training/backward/backward_ops.h"  // SsmScanGrads

namespace lectern::train::cuda {

// Same maths and layouts as the CPU functions of training/backward/backward_ops.h
// (ssm_scan_forward_checkpoint / ssm_scan_backward_recompute), for `batch` independent
// rows of T tokens each, all pointers in device memory: row b*T + t of every [T, ...]
// array; starts [batch, ssm_scan_checkpoints(T, chunk), H, P, N]. Every row starts from a
// zero state. y [batch*T, R, H, P] and starts are written.
cudaError_t ssm_scan_forward_checkpoint(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in,
                                        int64_t batch, int64_t T, int64_t chunk, float* y,
                                        float* starts, cudaStream_t s);

// How the backward runs. Chunked: the chunked matrix form (kernels/train/
// ssm_scan_backward_chunked.cu; SISO, P ≤ 64, N ≤ 128, chunk ≤ 64; refuses other shapes).
// Sequential: the token loop replaying each chunk (ssm_scan_backward.cu; every shape, the
// reference and fallback). Auto: Chunked where it applies, else Sequential;
// LECTERN_SCAN_BWD=sequential (read once per process) makes Auto always Sequential.
enum class ScanBackwardPath { Auto, Sequential, Chunked };

// Floats of device workspace ssm_scan_backward_recompute needs for these shapes on this
// path (0: shapes the path refuses).
int64_t ssm_scan_backward_workspace_floats(const ops::Mamba3Dims& d, int64_t batch, int64_t T,
                                           int64_t chunk,
                                           ScanBackwardPath path = ScanBackwardPath::Auto);

// How dq, dk and dx take their gradients. Add: += like every other gradient. Write: = (their
// old contents neither read nor kept; the others still +=): for a caller whose buffers hold
// nothing yet, which then needs no zeroing and the chunked path no read of the old values
// (the training step; training/NOTES-cuda.md, helper S5). The sequential path zeroes them and
// adds.
enum class ScanQkxGrads { Add, Write };

// Gradients ACCUMULATE (+=) into g's device buffers (dD, dmimoX summed over batch and time;
// dq, dk, dx as qkx says). g.dmimoX may be null only for SISO. workspace:
// ssm_scan_backward_workspace_floats floats for the same path. Deterministic (no atomics) on both
// paths. tf32: the chunked path's matrix products on the tensor cores (operands rounded to TF32,
// fp32 sums; for the TF32 / bf16 training step: not within the fp32 tolerances; the sequential path
// ignores it; LECTERN_SCAN_BWD_PRODUCTS=fp32, read once, keeps the fp32 products, for comparing).
// qkBf16 (optional): q then k ([batch·T, H, N] each, SISO) in bf16, the forward's own operands
// (mamba3_qk_rotated_bf16_forward): the chunked path's TF32 form stages these instead of in.q and
// in.k (which it then never reads): half the bytes, and a bf16 value is exact in TF32, so no
// rounding of q or k either. Only where ssm_scan_backward_takes_bf16_qk says so; elsewhere
// cudaErrorInvalidValue, nothing launched.
cudaError_t ssm_scan_backward_recompute(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in,
                                        const float* starts, int64_t batch, int64_t T,
                                        int64_t chunk, const float* dy, const SsmScanGrads& g,
                                        float* workspace, cudaStream_t s,
                                        ScanBackwardPath path = ScanBackwardPath::Auto,
                                        bool tf32 = false, ScanQkxGrads qkx = ScanQkxGrads::Add,
                                        const void* qkBf16 = nullptr);

// Whether ssm_scan_backward_recompute with these arguments takes bf16 q / k (the chunked path in
// its TF32 form, after the LECTERN_SCAN_BWD / LECTERN_SCAN_BWD_PRODUCTS overrides).
bool ssm_scan_backward_takes_bf16_qk(const ops::Mamba3Dims& d, int64_t chunk,
                                     ScanBackwardPath path = ScanBackwardPath::Auto,
                                     bool tf32 = false);

}  // namespace lectern::train::cuda
