// The CPU reference backward of every op of the model, one .cpp per op (<op>_backward.cpp),
// mirroring engine/ops/<op>.h. Conventions (llm.c): gradients are named d<name>, every
// backward ACCUMULATES (+=) into its gradient outputs, so the caller zeroes them once
// (zero_grad) and may sum several uses; inputs are what the forward saved (see
// training/model_train.h Activations). Derivations: training/NOTES-<op>.md.
#pragma once

#include <cstdint>

#include "ops/mamba3_gate.h"
#include "ops/mamba3_preprocess.h"
#include "ops/ssm_scan_common.h"

namespace lectern::train {

// embedding: dtable[ids[t], :] += dout[t, :]   (dtable [V, D], dout [T, D])
void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t T, int64_t D);

// rmsnorm (and the norm half of add_rmsnorm): in is the norm's input [rows, dim] (the
// residual after the add); din [rows, dim] += ∂/∂in, dweight [dim] += ∂/∂weight.
// The add's backward is the identity: the caller passes the same gradient to both addends.
void rmsnorm_backward(float* din, float* dweight, const float* dout, const float* in,
                      const float* weight, int64_t rows, int64_t dim, float eps);

// linear (out = in · Wᵀ; also lm_head): din [rows, inF] += dout · W (skipped if null),
// dW [outF, inF] += doutᵀ · in. Two sgemm calls with beta = 1.
void linear_backward(float* din, float* dW, const float* dout, const float* in, const float* W,
                     int64_t rows, int64_t inF, int64_t outF);

// gated_mlp: recomputes h = in · fc1ᵀ, then din, dfc1, dfc2 += their gradients.
void gated_mlp_backward(float* din, float* dfc1, float* dfc2, const float* dout, const float* in,
                        const float* fc1, const float* fc2, int64_t rows, int64_t D, int64_t F);

// mamba3_preprocess: the gradients of its outputs (dq, dk before rotation [T, R, H, N];
// ddt, dadt, dtrap [T, H]; ddtheta [T, H, A]) to dproj [T, dInProj] (segments B, C, dd_dt,
// dd_A, trap, angles; += ) and the parameter gradients.
struct Mamba3PreprocessGrads {
    float* dtBias;  // [H]
    float* bNorm;   // [N]
    float* cNorm;   // [N]
    float* bBias;   // [H, R, N]
    float* cBias;   // [H, R, N]
};
void mamba3_preprocess_backward(const ops::Mamba3Dims& d, const ops::Mamba3PreprocessParams& p,
                                const Mamba3PreprocessGrads& g, const float* proj, int64_t T,
                                const float* dq, const float* dk, const float* ddt,
                                const float* dadt, const float* dtrap, const float* ddtheta,
                                float* dproj);

// rotary_angles: q, k are the ROTATED outputs, angle0 [H, A] the angle state before the
// first token (null: zeros). dq, dk hold the gradients of the rotated q, k on entry and
// those of the unrotated q, k on return (in place); ddtheta [T, H, A] += the gradient of the
// angle increments (a reverse cumulative sum: θ_t = Σ_{s<=t} dθ_s, the wrap has slope 1).
void rotary_angles_backward(const ops::Mamba3Dims& d, const float* q, const float* k,
                            const float* angle0, const float* dtheta, int64_t T, float* dq,
                            float* dk, float* ddtheta);

// ssm scan (the recurrence of ops/ssm_scan_common.h from a ZERO state, as in training):
// the forward that saves every state h_t [T, H, P, N] (hs), and its backward through time.
void ssm_scan_forward_save(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in, int64_t T,
                           float* y, float* hs);
struct SsmScanGrads {
    float* dq;  // [T, R, H, N] (+=)
    float* dk;  // [T, R, H, N]
    float* dx;  // rows of the inputs' xStride floats, head h at dx + h*P
    float* dadt;
    float* ddt;
    float* dtrap;   // [T, H] each
    float* dD;      // [H]
    float* dmimoX;  // [H, R, P] or null (SISO)
};
void ssm_scan_backward(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in, const float* hs,
                       int64_t T, const float* dy, const SsmScanGrads& g);

// The memory-bounded form (NOTES-ssm_scan.md, "Recomputation"): the forward keeps only the
// state entering each chunk of `chunk` tokens (starts [ssm_scan_checkpoints(T, chunk), H, P,
// N]); the backward recomputes a chunk's states from its start, one chunk at a time, with
// the forward's own float operations, so the gradients equal ssm_scan_backward's bit for
// bit while memory holds T/chunk + chunk + 1 states instead of T.
int64_t ssm_scan_checkpoints(int64_t T, int64_t chunk);
void ssm_scan_forward_checkpoint(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in, int64_t T,
                                 int64_t chunk, float* y, float* starts);
void ssm_scan_backward_recompute(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in,
                                 const float* starts, int64_t T, int64_t chunk, const float* dy,
                                 const SsmScanGrads& g);

// mamba3_gate: dy [T, R, H, P] += , dz (rows of zStride floats) += , and the parameter
// gradients (null where the parameter is absent).
struct Mamba3GateGrads {
    float* mimoZ;  // [H, R, P] or null
    float* mimoO;  // [H, R, P] or null
    float* normW;  // [H*P] or null
};
void mamba3_gate_backward(const ops::Mamba3Dims& d, const ops::Mamba3GateParams& p,
                          const Mamba3GateGrads& g, const float* y, const float* z, int64_t zStride,
                          int64_t T, const float* dout, float* dy, float* dz);

}  // namespace lectern::train
