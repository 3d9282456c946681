// The CUDA backend's ops: the same maths as engine/ops/*.h (read those for shapes and
// formulas), launched on a stream, all pointers in device memory. Differences from the
// CPU contracts, all additive: a stream argument; the sequential ops (rotary_angles,
// ssm_chunk_scan, ssm_step) take `batch` documents of T tokens each (rows b*T + t, states
// [batch, ...]); GEMM ops take a GemmContext and a DeviceMatrix (fp32 and/or bf16 copy).
// Kernels live in kernels/<op>.cu; launch errors surface through cudaGetLastError().
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "ops/mamba3_gate.h"
#include "ops/mamba3_preprocess.h"
#include "ops/ssm_scan_common.h"

typedef struct cublasContext* cublasHandle_t;

namespace lectern::cuda {

// How projections multiply: Fp32 is exact sgemm (the correctness mode); Tf32 uses the
// tensor cores on fp32 data; Bf16 rounds activations and weights to bf16 and accumulates
// in fp32 (cublasGemmEx), the benchmark mode.
enum class Precision { Fp32, Tf32, Bf16 };

struct GemmContext {
    cublasHandle_t handle = nullptr;
    Precision precision = Precision::Fp32;
    void* bf16Scratch = nullptr;  // activations rounded to bf16 (Bf16 mode)
    int64_t bf16ScratchElems = 0;
};

// A weight matrix [rows, cols] row-major (PyTorch layout), fp32 and/or bf16 on device.
struct DeviceMatrix {
    const float* f32 = nullptr;
    const void* bf16 = nullptr;  // __nv_bfloat16*
    int64_t rows = 0, cols = 0;
};

// Per launch: the scan's chunk workspace, sized by ssm_chunk_scan_workspace_floats().
struct ScanWorkspace {
    float* chunkStates = nullptr;  // [batch, H, nChunks, P, N]
    float* chunkDecay = nullptr;   // [batch, H, nChunks]
    int64_t floats = 0;
    // Optional, tensor-core path only: [batch, H, nChunks, P, N] __nv_bfloat16. With it the
    // inter-chunk pass writes each chunk's incoming state here in bf16 (the form phase 3
    // multiplies in) instead of over chunkStates in fp32: half the bytes both ways.
    void* stateInBf16 = nullptr;
    // Optional, tensor-core path only: q then k ([rows, R, H, N] each, rows = batch·T) in
    // bf16 (mamba3_qk_rotated_bf16_forward); the scan then reads these instead of in.q and
    // in.k, except each document's last k row (fp32, in.k), which becomes the state's key.
    const void* qkBf16 = nullptr;
};

void embedding_forward(float* out, const int32_t* ids, int64_t rows, const float* table, int64_t D,
                       cudaStream_t s);
void rmsnorm_forward(float* out, const float* in, const float* weight, int64_t rows, int64_t dim,
                     float eps, cudaStream_t s);
void add_rmsnorm_forward(float* out, float* residual, const float* delta, const float* weight,
                         int64_t rows, int64_t dim, float eps, cudaStream_t s);
// The same with the normalised rows written in bf16 to outBf16 [rows, dim] (the prefill's
// in_proj input; kernels/prefill_add_rmsnorm.cu). False, launching nothing, unless dim % 4
// == 0, dim <= 4096 and the pointers are 16-byte aligned: use add_rmsnorm_forward then.
bool prefill_add_rmsnorm_bf16_forward(void* outBf16, float* residual, const float* delta,
                                      const float* weight, int64_t rows, int64_t dim, float eps,
                                      cudaStream_t s);
// out [rows, outF] = in [rows, inF] (row stride ldIn) · Wᵀ. Returns a cuBLAS status (0 ok).
int linear_forward(GemmContext& g, float* out, const float* in, int64_t ldIn, const DeviceMatrix& W,
                   int64_t rows, cudaStream_t s);
// out [rows, W.rows] = in · Wᵀ with in [rows, W.cols] already bf16 (dense rows; e.g.
// prefill_add_rmsnorm_bf16_forward's output): linear_forward's bf16 GEMM without its
// conversion pass. Needs W.bf16.
int linear_bf16_input_forward(GemmContext& g, float* out, const void* in, const DeviceMatrix& W,
                              int64_t rows, cudaStream_t s);
// Bf16 mode with at most kGemvMaxRows rows (decode): a weight-streaming GEMV on the bf16
// weights with fp32 activations (kernels/gemv_bf16.cu). Returns false, launching nothing,
// where it does not apply (other sizes, no bf16 copy, inF % 8 or unaligned operands).
constexpr int64_t kGemvMaxRows = 4;
bool gemv_bf16_forward(float* out, const float* in, int64_t ldIn, const DeviceMatrix& W,
                       int64_t rows, cudaStream_t s);
int lm_head_forward(GemmContext& g, float* logits, const float* normed, int64_t ldNormed,
                    const DeviceMatrix& W, int64_t rows, cudaStream_t s);
// scratch: rows * 3F floats (h, then the gated half compacted).
int gated_mlp_forward(GemmContext& g, float* out, const float* in, const DeviceMatrix& fc1,
                      const DeviceMatrix& fc2, float* scratch, int64_t rows, cudaStream_t s);
void mamba3_preprocess_forward(const ops::Mamba3Dims& d, const ops::Mamba3PreprocessParams& p,
                               const float* proj, int64_t rows, float* q, float* k, float* dt,
                               float* adt, float* trap, float* dtheta, cudaStream_t s);
// dtheta is consumed: past 256 tokens it is overwritten (kernels/rotary_angles.cu).
void rotary_angles_forward(const ops::Mamba3Dims& d, float* q, float* k, float* angleState,
                           float* dtheta, int64_t batch, int64_t T, cudaStream_t s);
// The model's fused path for the same maths (kernels/mamba3_preprocess.cu,
// rotary_angles.cu): preprocess's scalars and angle increments only; then the running
// angles theta [batch·T, H, A] (the angle state advanced, dtheta consumed as above);
// then q and k normalised and rotated by theta in one write, instead of a second
// read-modify-write pass over q and k (1 GB a layer at 16k tokens).
void mamba3_preprocess_scalars_forward(const ops::Mamba3Dims& d,
                                       const ops::Mamba3PreprocessParams& p, const float* proj,
                                       int64_t rows, float* dt, float* adt, float* trap,
                                       float* dtheta, cudaStream_t s);
void rotary_theta_forward(const ops::Mamba3Dims& d, float* angleState, float* dtheta, float* theta,
                          int64_t batch, int64_t T, cudaStream_t s);
void mamba3_qk_rotated_forward(const ops::Mamba3Dims& d, const ops::Mamba3PreprocessParams& p,
                               const float* proj, int64_t rows, const float* theta, float* q,
                               float* k, cudaStream_t s);
// The same q and k in bf16 (qb, kb), plus each document's last k row (rows t with
// (t + 1) % T == 0) in fp32 at its place in kLast; false, launching nothing, for fewer than
// 64 rows or heads too many for its shared memory (then use the fp32 op).
bool mamba3_qk_rotated_bf16_forward(const ops::Mamba3Dims& d, const ops::Mamba3PreprocessParams& p,
                                    const float* proj, int64_t rows, int64_t T, const float* theta,
                                    void* qb, void* kb, float* kLast, cudaStream_t s);
// The bf16 SISO prefill's whole preprocess (kernels/prefill_qk_angles.cu): dt, A·dt, trap,
// the angle state advanced over T tokens a document, and q, k in bf16 with each document's
// last k row in fp32, as the three ops above make them, in one launch that never stores the
// increments or the running angles (a decoupled look-back over a document's 64-token
// segments gives each its starting angle, summed exactly in integer turns). segScratch: where
// a document has several segments, 16 bytes per (document, segment, head, angle) plus a flag
// per block (the model lends dtheta's space). False, launching nothing, where it does not
// apply (MIMO, no angles, scratch too small): use the ops above.
bool prefill_qk_angles_bf16_forward(const ops::Mamba3Dims& d, const ops::Mamba3PreprocessParams& p,
                                    const float* proj, int64_t batch, int64_t T, float* angleState,
                                    void* segScratch, size_t segScratchBytes, void* qb, void* kb,
                                    float* kLast, float* dt, float* adt, float* trap,
                                    cudaStream_t s);
// Tokens per chunk the kernel uses (64 / R rows of R ranks): independent of the model's
// chunk_size, which changes only rounding.
int ssm_chunk_tokens(const ops::Mamba3Dims& d);
int64_t ssm_chunk_scan_workspace_floats(const ops::Mamba3Dims& d, int64_t batch, int64_t T);
// Returns cudaSuccess, or cudaErrorInvalidValue when the dims need more shared memory
// than the device has (checked before launching). ScanMath::Bf16 runs the intra-chunk
// matmuls on the tensor cores (bf16 operands, fp32 accumulation and state) where the dims
// allow it (N, P multiples of 16), else the fp32 path.
// qkFromProj (Bf16 path only; in.q and in.k are then unused): the scan makes q and k
// itself from the in_proj rows as it loads a chunk (RMSNorm, weight, per-head bias,
// rotation by the running angles: mamba3_qk_rotated_forward's maths), so that they never
// reach device memory; with it, a call the tensor-core path cannot take is refused
// (cudaErrorInvalidValue).
enum class ScanMath { Fp32, Bf16 };
struct QKFromProj {
    const float* proj = nullptr;  // [rows, dInProj]
    ops::Mamba3PreprocessParams p{};
    const float* theta = nullptr;  // [rows, H, A] (rotary_theta_forward)
};
bool ssm_chunk_scan_bf16_fits(const ops::Mamba3Dims& d);  // whether Bf16 takes the tensor cores
cudaError_t ssm_chunk_scan_forward(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in,
                                   int64_t batch, int64_t T, float* y, const ops::SsmStateRef& st,
                                   const ScanWorkspace& ws, cudaStream_t s,
                                   ScanMath math = ScanMath::Fp32,
                                   const QKFromProj* qkFromProj = nullptr);
// The whole-document prefill scan (kernels/ssm_prefill_scan_bf16.cu), SISO on the tensor
// cores: ssm_chunk_scan_forward(ScanMath::Bf16)'s maths with q/k in bf16, but each
// (segment, head, document) walks its chunks in order with the state on chip, so q, k, x
// are read once and y written once (a state-only walk first gives each later segment its
// entry state). With `gate`, it writes mamba3_gate_forward's SISO output (norm over P,
// weight, ·silu(z)) instead of y. ws.qkBf16 holds q then k in bf16 and in.k each
// document's last k row in fp32 (mamba3_qk_rotated_bf16_forward's outputs); in.q is not
// read. ws.chunkStates: ssm_chunk_scan_workspace_floats() floats. segments: how many a
// document is split into, 0: enough to fill the device once (LECTERN_PREFILL_SEGMENTS
// overrides). cudaErrorInvalidValue, launching nothing, where it does not apply (MIMO,
// dims, alignment): use ssm_chunk_scan_forward then.
struct PrefillGate {
    const float* z = nullptr;  // rows of zStride floats, head h at z + h·P
    int64_t zStride = 0;
    const float* normW = nullptr;  // [H·P] or null
    float* out = nullptr;          // [rows, H·P]
};
bool ssm_prefill_scan_fits(const ops::Mamba3Dims& d);
cudaError_t ssm_prefill_scan_forward(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in,
                                     int64_t batch, int64_t T, float* y, const ops::SsmStateRef& st,
                                     const ScanWorkspace& ws, cudaStream_t s,
                                     const PrefillGate* gate = nullptr, int segments = 0);
cudaError_t ssm_step_forward(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in, int64_t batch,
                             int64_t T, float* y, const ops::SsmStateRef& st, cudaStream_t s);
void mamba3_gate_forward(const ops::Mamba3Dims& d, const ops::Mamba3GateParams& p, const float* y,
                         const float* z, int64_t zStride, int64_t rows, float* out, cudaStream_t s);

// Utilities (not model ops): fp32 -> bf16 copies, and hash-based random fill for benchmarks.
void to_bf16(void* dst, const float* src, int64_t n, cudaStream_t s);
void fill_uniform(float* dst, int64_t n, float lo, float hi, uint64_t seed, cudaStream_t s);

// The fused decode step (kernels/decode_mixer.cu, decode_gemv.cu; engine/cuda/cuda_decode.cpp).
// decode_mixer_forward: one token per document, everything after in_proj up to out_proj's
// input in one launch (scalars, angles advanced, q/k, state step, D skip, gate); SISO only
// (decode_mixer_fits; else cudaErrorInvalidValue, nothing launched).
struct DecodeMixerParams {
    const float* proj = nullptr;  // [batch, dInProj]
    ops::Mamba3PreprocessParams pre{};
    const float* D = nullptr;        // [H]
    const float* outNorm = nullptr;  // [H·P] or null
    float* angle = nullptr;          // angle state [batch, H, A], advanced
    ops::SsmStateRef st{};           // batch-strided, advanced
    float* gated = nullptr;          // [batch, dInner]: out_proj's input
    bool pdl = false;                // launched as a programmatic dependent (decode_pdl.cuh)
    bool compact = false;            // the 64-register variant (DecodeLaunch::compactMixer)
};
bool decode_mixer_fits(const ops::Mamba3Dims& d);
cudaError_t decode_mixer_forward(const ops::Mamba3Dims& d, const DecodeMixerParams& p, int batch,
                                 cudaStream_t s);
// out [rows, W.rows] = RMSNorm(residual rows; normW, eps) · Wᵀ (bf16 W, <= kGemvMaxRows rows);
// and residual [rows, W.rows] += in · Wᵀ. False, launching nothing, where they do not apply.
bool decode_norm_gemv_forward(float* out, const float* residual, int64_t ldIn, const float* normW,
                              float eps, const DeviceMatrix& W, int64_t rows, cudaStream_t s);
bool decode_gemv_add_forward(float* residual, const float* in, int64_t ldIn, const DeviceMatrix& W,
                             int64_t rows, cudaStream_t s);
// How the fused step launches its kernels (kernels/decode_pdl.cuh, gemv_bf16.cuh,
// decode_mixer.cu). pdl: as programmatic dependents, whose first weight (or state) loads
// overlap the previous kernel's tail. gemvBulk (with pdl): the GEMVs' weights come through
// the bulk copy engine into shared memory (gemvBf16BulkKernel): more bytes in flight on
// fewer registers. compactMixer: the mixer capped at 64 registers, so that two of its
// blocks, or one beside two bulk-GEMV blocks, fit on a multiprocessor.
struct DecodeLaunch {
    bool pdl = false;
    bool gemvBulk = false;
    bool compactMixer = false;
};
// The step's choice for `batch` documents, read when a step's graph is captured; gemv:
// whether the weight-streaming GEMVs apply (else cuBLAS projections: no PDL, no bulk). pdl
// where the device supports it (sm_90) unless LECTERN_DECODE_PDL=0; gemvBulk up to
// kDecodeGemvBulkMaxBatch documents (LECTERN_DECODE_GEMV_BULK=0|1 overrides); compactMixer
// from kDecodeCompactMixerFromBatch documents or with the bulk GEMVs
// (LECTERN_DECODE_MIXER_COMPACT=0|1 overrides). H100, batch 1 (NOTES-gpu.md, session 5):
// bulk GEMVs with the compact mixer 1.361 ms a step, plain GEMVs 1.434-1.447; batch 16:
// the compact mixer 3.69 ms, the 73-register one 4.23.
constexpr int kDecodeGemvBulkMaxBatch = 1;
constexpr int kDecodeCompactMixerFromBatch = 4;
bool decode_pdl_enabled();
DecodeLaunch decode_launch_options(int batch, bool gemv);
bool decode_norm_gemv_forward(float* out, const float* residual, int64_t ldIn, const float* normW,
                              float eps, const DeviceMatrix& W, int64_t rows,
                              const DecodeLaunch& how, cudaStream_t s);
bool decode_gemv_add_forward(float* residual, const float* in, int64_t ldIn, const DeviceMatrix& W,
                             int64_t rows, const DecodeLaunch& how, cudaStream_t s);

// Greedy decoding (kernels/sampling.cu): *out (device) = the index of the first largest of
// logits[0, n), as generate::Sampler's greedy choice; 0 if logits[0] is NaN.
void argmax_first_forward(const float* logits, int n, int32_t* out, cudaStream_t s);
// Sampling (kernels/sampling.cu): *out (device) = generate::drawToken(samplingDistribution(
// logits[0, n), no history, the options below), u) for a uniform u drawn on the host;
// temperature <= 0 is greedy (argmax_first_forward). scratch: n doubles on the device.
// The repetition penalty is not applied here (the caller keeps the CPU path for it).
struct GpuSampling {
    float temperature = 1.0f;
    int topK = 0;       // 0: off
    float topP = 1.0f;  // 1: off
    float minP = 0.0f;  // 0: off
};
void sample_forward(const float* logits, int n, const GpuSampling& o, double u, double* scratch,
                    int32_t* out, cudaStream_t s);

}  // namespace lectern::cuda
