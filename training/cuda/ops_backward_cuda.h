// The CUDA backward of every op of the model but the scan (issue 5; the scan is A1's
// training/cuda/scan_backward_cuda.h), plus the loss and the AdamW update. Each function
// mirrors its CPU reference in training/backward/backward_ops.h (same names, same maths,
// same shapes, same contract: gradients ACCUMULATE (+=) unless a comment says WRITTEN), in
// namespace lectern::train::cuda, with every pointer in device memory and the stream last.
// The sequential ops take `batch` documents of T tokens each (row b*T + t), as
// engine/cuda/cuda_ops.h does; the per-row ops take rows = batch*T.
// Kernels: kernels/train/<op>_backward.cu, cross_entropy.cu, adamw.cu. fp32 throughout but
// for the two *_bf16 forms (the bf16 step's GEMM operands and logits' gradient).
// Launch errors are returned (cudaGetLastError after the launches); GEMM functions return
// a cuBLAS status (0 ok). Nothing here synchronises the stream or allocates.
// Non-determinism, stated: where many rows add into one parameter gradient (embedding,
// the weights of rmsnorm, preprocess and gate) the kernels use float atomicAdd of per-block
// partial sums, so the summation order (and the last bits) vary from run to run; except
// mamba3_rotary_preprocess_backward, which sums per-block partials in a fixed order.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "ops/mamba3_gate.h"
#include "ops/mamba3_preprocess.h"
#include "training/backward/backward_ops.h"  // Mamba3PreprocessGrads, Mamba3GateGrads

typedef struct cublasContext* cublasHandle_t;

namespace lectern::train::cuda {

// embedding: dtable[ids[r], :] += dout[r, :] for r < rows (dtable [V, D]). atomicAdd per
// element (two rows may share a token).
cudaError_t embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t rows,
                               int64_t D, cudaStream_t s);

// rmsnorm (and the norm half of add_rmsnorm): in is the norm's input [rows, dim]; din [rows,
// dim] += ∂/∂in, dweight [dim] += ∂/∂weight. One block per row for din; dweight from per-block
// partial sums (shared memory, dim floats) added with one atomicAdd per block and column.
// dim <= 12288 (else cudaErrorInvalidValue, nothing launched).
cudaError_t rmsnorm_backward(float* din, float* dweight, const float* dout, const float* in,
                             const float* weight, int64_t rows, int64_t dim, float eps,
                             cudaStream_t s);

// linear (out = in · Wᵀ; also the LM head): din [rows, inF] (row stride ldDin) += dout · W
// (skipped if din is null; WRITTEN, beta 0, where dinWritten: the step's din buffers then
// need no zeroing pass first), dW [outF, inF] += doutᵀ · in (in with row stride ldIn, e.g. a
// view into the in_proj rows). Two cublasSgemm calls. tf32: let cuBLAS use the tensor cores
// on fp32 data (default: exact fp32, CUBLAS_PEDANTIC_MATH).
int linear_backward(cublasHandle_t h, float* din, int64_t ldDin, float* dW, const float* dout,
                    const float* in, int64_t ldIn, const float* W, int64_t rows, int64_t inF,
                    int64_t outF, cudaStream_t s, bool tf32 = false, bool dinWritten = false);

// The same with bf16 operands (__nv_bfloat16*) and fp32 accumulation (cublasGemmEx): dout
// [rows, outF], in (row stride ldIn) and W as bf16; din and dW fp32 (as above). The bf16
// training step's form (model_train_cuda.h, TrainPrecision::Bf16).
int linear_backward_bf16(cublasHandle_t h, float* din, int64_t ldDin, float* dW, const void* dout,
                         const void* in, int64_t ldIn, const void* W, int64_t rows, int64_t inF,
                         int64_t outF, cudaStream_t s, bool dinWritten = false);

// gated_mlp: recomputes h = in · fc1ᵀ, then din [rows, D], dfc1 [2F, D], dfc2 [D, F] += their
// gradients. scratch: rows * 3F floats (the forward's size: h, then y / dy).
int gated_mlp_backward(cublasHandle_t h, float* din, float* dfc1, float* dfc2, const float* dout,
                       const float* in, const float* fc1, const float* fc2, int64_t rows, int64_t D,
                       int64_t F, float* scratch, cudaStream_t s, bool tf32 = false);

// mamba3_preprocess: from the gradients of its outputs (dq, dk of the UNROTATED q, k [rows, R,
// H, N]; ddt, dadt, dtrap [rows, H]; ddtheta [rows, H, A]) to dproj [rows, dInProj] (segments
// B, C, dd_dt, dd_A, trap, angles; +=) and the parameter gradients g (dtBias [H], bNorm,
// cNorm [N], bBias, cBias [H, R, N]; += , summed over rows). N <= 256.
cudaError_t mamba3_preprocess_backward(const ops::Mamba3Dims& d,
                                       const ops::Mamba3PreprocessParams& p,
                                       const Mamba3PreprocessGrads& g, const float* proj,
                                       int64_t rows, const float* dq, const float* dk,
                                       const float* ddt, const float* dadt, const float* dtrap,
                                       const float* ddtheta, float* dproj, cudaStream_t s);

// rotary_angles, given the running angles theta [rows, H, A] the forward rotated by
// (rotary_theta_forward's output, or rotary_theta_replay below): q, k are the ROTATED
// outputs [rows, R, H, N]. dq, dk hold the gradients of the rotated q, k on entry and those
// of the unrotated q, k on return (in place); ddtheta [rows, H, A] += the gradient of the
// angle increments: per (document, head, angle) the reverse cumulative sum over its T
// tokens of ∂L/∂θ_t (a parallel suffix scan in double over segments of T). scratch: rows*H*A
// floats; it may equal theta (which is then consumed). ddthetaWritten: ddtheta is written,
// not added to (no memset before it: 2 of its passes a layer fewer).
cudaError_t rotary_theta_backward(const ops::Mamba3Dims& d, const float* q, const float* k,
                                  const float* theta, int64_t batch, int64_t T, float* dq,
                                  float* dk, float* ddtheta, float* scratch, cudaStream_t s,
                                  bool ddthetaWritten = false);

// The running angles exactly as the CPU forward (engine/cpu/rotary_angles.cpp) computes
// them: theta_t = wrap(theta_{t-1} + dtheta_t) in float from angle0 [batch, H, A] (null:
// zeros), one thread per (b, h, a). theta [rows, H, A] is WRITTEN.
cudaError_t rotary_theta_replay(const ops::Mamba3Dims& d, const float* angle0, const float* dtheta,
                                int64_t batch, int64_t T, float* theta, cudaStream_t s);

// The CPU signature's form: replay (above) into scratch, then rotary_theta_backward with
// scratch as theta. scratch: rows*H*A floats. angle0 [batch, H, A] or null.
cudaError_t rotary_angles_backward(const ops::Mamba3Dims& d, const float* q, const float* k,
                                   const float* angle0, const float* dtheta, int64_t batch,
                                   int64_t T, float* dq, float* dk, float* ddtheta, float* scratch,
                                   cudaStream_t s);

// rotary_theta_backward then mamba3_preprocess_backward in one (the step's form; kernels/train/
// mamba3_rotary_preprocess_backward.cu): dq, dk [rows, R, H, N] are the gradients of the ROTATED
// q, k, only read (neither q nor k is needed: the un-rotated ones are recomputed from proj);
// theta [rows, H, A] the forward's running angles; batch documents of T tokens. dproj += as
// mamba3_preprocess_backward; g's parameter gradients += each as ONE fixed-order sum over
// per-block partials (the same bits every run for a device and shape; no atomics). Scratch:
// dthScratch rows*H*A floats (∂L/∂θ_t, WRITTEN); ddtheta rows*H*A floats, ∂L/∂dθ WRITTEN
// there only where angleWalk is false or the walk does not fit (angleWalk: the reverse sum
// and its readers in one walk that keeps ∂L/∂dθ on chip; mamba3_angle_walk_backward.cu);
// scratch mamba3_rotary_preprocess_backward_scratch_floats(d) floats, 16-byte aligned.
// cudaErrorNotSupported, nothing launched, for what mamba3_rotary_preprocess_backward_fits
// refuses (N % 4 != 0 or N > 256, R > 4, shared memory), batch > 512, or dq, dk, the norm
// weights, biases or scratch not 16-byte aligned.
bool mamba3_rotary_preprocess_backward_fits(const ops::Mamba3Dims& d);
int64_t mamba3_rotary_preprocess_backward_scratch_floats(const ops::Mamba3Dims& d);
cudaError_t mamba3_rotary_preprocess_backward(
    const ops::Mamba3Dims& d, const ops::Mamba3PreprocessParams& p, const Mamba3PreprocessGrads& g,
    const float* proj, const float* theta, int64_t batch, int64_t T, const float* dq,
    const float* dk, const float* ddt, const float* dadt, const float* dtrap, float* dproj,
    float* dthScratch, float* ddtheta, float* scratch, cudaStream_t s, bool angleWalk = true);

// mamba3_gate: y [rows, R, H, P], z rows of zStride floats (head h at z + h*P), dout [rows, H*P];
// dy += , dz += (both WRITTEN where `written`: dz only its H*P columns of each row), and the
// parameter gradients g (null where the parameter is absent; summed over rows). One warp per
// (row, head), the R ranks in a loop. P <= 256.
cudaError_t mamba3_gate_backward(const ops::Mamba3Dims& d, const ops::Mamba3GateParams& p,
                                 const Mamba3GateGrads& g, const float* y, const float* z,
                                 int64_t zStride, int64_t rows, const float* dout, float* dy,
                                 float* dz, cudaStream_t s, bool written = false);

// mamba3_qk_rotated_forward (engine/cuda/cuda_ops.h, same maths: q and k [rows, 1, H, N]
// normalised, weighted, biased and rotated by theta [rows, H, A], WRITTEN) for SISO with N a
// multiple of 4 and 16-byte aligned q, k and biases, in whole float4 stores
// (kernels/train/mamba3_qk_recompute.cu); false, launching nothing, for other shapes.
bool mamba3_qk_rotated_siso_forward(const ops::Mamba3Dims& d, const ops::Mamba3PreprocessParams& p,
                                    const float* proj, int64_t rows, const float* theta, float* q,
                                    float* k, cudaStream_t s);
// The same q and k rounded to bf16 (nearest even) into qb, kb ([rows, H, N] __nv_bfloat16 each,
// 8-byte aligned): the scan backward's bf16 q/k (scan_backward_cuda.h); false, launching
// nothing, where the fp32 form would refuse.
bool mamba3_qk_rotated_siso_bf16_forward(const ops::Mamba3Dims& d,
                                         const ops::Mamba3PreprocessParams& p, const float* proj,
                                         int64_t rows, const float* theta, void* qb, void* kb,
                                         cudaStream_t s);

// mamba3_gate_forward's output (engine/cuda/cuda_ops.h, same maths) rounded to bf16
// (__nv_bfloat16 out [rows, H*P]): the bf16 step's recompute of the gate in the backward,
// written straight into the out_proj backward's bf16 operand (no fp32 pass between).
// (kernels/train/mamba3_gate_recompute_bf16.cu) P <= 256 (else cudaErrorInvalidValue).
cudaError_t mamba3_gate_forward_bf16(const ops::Mamba3Dims& d, const ops::Mamba3GateParams& p,
                                     const float* y, const float* z, int64_t zStride, int64_t rows,
                                     void* out, cudaStream_t s);

// The scan's checkpoints from the engine's chunked forward: hs [batch, nChk, H, PN] (WRITTEN)
// [b, c, h] = states [batch, H, nC, PN] [b, h, c·stride] (the state entering every
// stride-th engine chunk). cudaErrorInvalidValue, nothing launched, if (nChk − 1)·stride
// >= nC. (kernels/train/scan_checkpoint_gather.cu)
cudaError_t gather_chunk_states(const float* states, int64_t batch, int64_t H, int64_t nC,
                                int64_t PN, int64_t stride, int64_t nChk, float* hs,
                                cudaStream_t s);

// Next-token cross-entropy of training/loss.cpp for `batch` documents of T tokens: logits
// [batch*T, V] (V = the padded vocabulary: every column counts in the log-sum-exp, as on the
// CPU), ids [batch*T]; position t < T−1 of a document predicts ids[b*T + t + 1].
// *lossSum (double, device) += Σ [logsumexp − logit of the target] (double atomicAdd per row;
// a target outside [0, V) adds NaN, so the trainer's guard skips the step). dlogits (if not
// null) is WRITTEN: gradScale·(softmax − onehot), zeros for each document's last row. One
// block per row, online softmax in fp32, the log-sum-exp in double. rowWeights (device,
// [batch*T], optional; nullptr: all 1, the plain path) scales each row's gradient as well
// (--answer-weight); the loss sum stays unweighted.
cudaError_t cross_entropy_forward_backward(const float* logits, const int32_t* ids, int64_t batch,
                                           int64_t T, int64_t V, double* lossSum, double gradScale,
                                           float* dlogits, cudaStream_t s,
                                           const float* rowWeights = nullptr);
// The same with dlogits WRITTEN in bf16 (__nv_bfloat16 [batch*T, V]; the bf16 step feeds it
// straight to the LM head's bf16 backward and keeps no fp32 copy).
cudaError_t cross_entropy_forward_backward_bf16(const float* logits, const int32_t* ids,
                                                int64_t batch, int64_t T, int64_t V,
                                                double* lossSum, double gradScale, void* dlogits,
                                                cudaStream_t s, const float* rowWeights = nullptr);

// AdamW on one flat tensor of n values, the maths of training/optim/adamw.cpp adamw_tensor
// (float moments, double bias-corrected update, decoupled decay wd; 0 for the exempt
// tensors, noWeightDecay(name)). step: the update count after this one (>= 1).
// gradFactor multiplies every gradient first (the clipping factor of scaleGrads, 1 for
// none; g itself is not modified). guard: if not null, a device double (grad_sumsq's sum);
// when it is not finite the kernel returns without touching w, m or v (RELIABILITY NUM-4:
// a non-finite gradient never updates weights, even if the host forgets to check).
struct AdamWStep {
    double lr = 0.0, beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
    float wd = 0.0f;
    int64_t step = 1;
    float gradFactor = 1.0f;
};
cudaError_t adamw_step(const AdamWStep& a, float* w, const float* g, float* m, float* v, int64_t n,
                       const double* guard, cudaStream_t s);

// adamw_step over many tensors of one flat buffer in one launch (one launch a tensor cost
// ~300 launches a step on the ~125M model): chunks (device memory, adamw_chunks' table) of
// w, g, m, v; a chunk with decay 0 takes no weight decay. Same maths, bit for bit.
struct AdamWChunk {
    int64_t offset = 0, n = 0;
    int32_t decay = 1;
};
struct AdamWTensor {
    int64_t offset = 0, n = 0;
    bool decay = true;
};
cudaError_t adamw_step_chunks(const AdamWStep& a, const AdamWChunk* chunks, int64_t nChunks,
                              float* w, const float* g, float* m, float* v, const double* guard,
                              cudaStream_t s);
// The table for tensors (in buffer order): runs of adjacent tensors with the same decay, cut
// into chunks of at most `chunk` values.
std::vector<AdamWChunk> adamw_chunks(const std::vector<AdamWTensor>& tensors, int64_t chunk);

// *sumsq (double, device) += Σ g² over n values (per-block double partials, one atomicAdd
// per block). A non-finite entry makes the sum non-finite (NaN or inf: squares of finite
// floats cannot overflow a double). nonFinite (if not null, device) is set to 1 when any
// entry is NaN or inf. Zero *sumsq / *nonFinite once per step before the first call.
cudaError_t grad_sumsq(const float* g, int64_t n, double* sumsq, unsigned* nonFinite,
                       cudaStream_t s);

}  // namespace lectern::train::cuda
