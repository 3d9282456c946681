// The GPU training step (model_train_cuda.h): training/model_train.cpp's forward and
// backward and trainer.cpp's norm + AdamW, with the batch's B rows in one pass.
//
// Memory. Parameters: 4 fp32 copies (weights, gradients, two moments) = 16 bytes a
// parameter. Activations kept from the forward for the backward, per token and layer
// (floats): the norm's input D, in_proj's output dInProj, dt/adt/trap 3H, the running
// angles H·A, the scan output R·H·P, the scan's chunk-start states H·P·N/64, and with an MLP
// the second norm's input D. Recomputed in the backward instead of kept: both norms'
// outputs, the rotated q and k (R·H·N each, the largest), and the gate's output. Shared
// scratch (one layer at a time): ~6D + 4·R·H·N + 2·dInProj + 2·dInner + 3F + 2·V_pad floats
// a token (the last two: logits and their gradient). For the ~125M configuration (D 768,
// d_inner 1536, H 24, N 128, A 32, V 50280, no MLP): ~7.4k floats = 30 KB a token and layer
// kept (0.7 MB a token for 24 layers), plus ~0.45 MB a token of scratch, plus 2 GB of
// parameters and moments: seq 4096 × batch 4 fits in ~23 GB. Bf16 (TrainPrecision) adds a
// bf16 weight copy (2 bytes a parameter) and two bf16 GEMM operand buffers (rows ×
// max(D, d_inner, dInProj, F) each), and keeps the logits' gradient in bf16 only (half of
// that buffer: 1.6 GB less at 4 × 4096 with V 50,280).
#include "training/cuda/model_train_cuda.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "cuda/cuda_context.h"
#include "cuda/cuda_ops.h"
#include "cuda/prefill_qk_angles_theta.h"
#include "cuda/prefill_walk_bf16_out.h"
#include "training/cuda/ops_backward_cuda.h"
#include "training/cuda/scan_backward_cuda.h"
#include "training/cuda/step_profile.h"
#include "training/model_train.h"  // kScanRecomputeChunk
#include "training/params.h"

namespace lectern::train {

using lectern::cuda::Arena;
using lectern::cuda::Context;
using lectern::cuda::cudaCheck;
using lectern::cuda::DeviceMatrix;
using lectern::cuda::GemmContext;
using lectern::cuda::Precision;
using lectern::cuda::ScanMath;

namespace {

// One layer's parameters (or gradients, or moments) on the device; null where absent.
struct DevLayer {
    float *norm = nullptr, *inProj = nullptr, *dtBias = nullptr, *bBias = nullptr, *cBias = nullptr,
          *bNorm = nullptr, *cNorm = nullptr, *D = nullptr, *mimoX = nullptr, *mimoZ = nullptr,
          *mimoO = nullptr, *outNorm = nullptr, *outProj = nullptr, *norm2 = nullptr,
          *fc1 = nullptr, *fc2 = nullptr;
};
struct DevModel {
    float *embedding = nullptr, *normF = nullptr, *lmHead = nullptr;  // lmHead: embedding if tied
    std::vector<DevLayer> layers;
};

// A parameter tensor: where it lies in each of the four flat buffers.
struct Slot {
    std::string name;
    int64_t offset = 0, n = 0;
};

// What the backward needs of one layer's forward (device pointers into one arena).
struct LayerSaves {
    float *resid = nullptr, *proj = nullptr, *dt = nullptr, *adt = nullptr, *trap = nullptr,
          *theta = nullptr, *hs = nullptr, *y = nullptr, *resid2 = nullptr;
};

// How the step's linear backward gets its operands: dout already bf16 (the logits' gradient),
// in already rounded into a bf16 buffer (inBf16: the gate's recompute, the bf16 norm), din
// written (beta 0) instead of added to, so that no zeroing pass over it is needed first.
struct Operands {
    bool doutBf16 = false;
    const void* inBf16 = nullptr;
    bool dinWritten = false;
};

int64_t align64(int64_t n) {
    return (n + 63) / 64 * 64;
}

float* orNull(float* base, const std::vector<float>& v, const std::map<const void*, int64_t>& at) {
    if (v.empty()) return nullptr;
    return base + at.at(&v);
}

DevModel bind(const model::ModelConfig& cfg, const model::ModelWeights& shape,
              const std::map<const void*, int64_t>& at, float* base) {
    DevModel m;
    m.embedding = orNull(base, shape.embedding, at);
    m.normF = orNull(base, shape.normF, at);
    m.lmHead = cfg.tieEmbeddings ? m.embedding : orNull(base, shape.lmHead, at);
    for (const model::LayerWeights& L : shape.layers) {
        DevLayer d;
        d.norm = orNull(base, L.norm, at), d.inProj = orNull(base, L.inProj, at);
        d.dtBias = orNull(base, L.dtBias, at), d.bBias = orNull(base, L.bBias, at);
        d.cBias = orNull(base, L.cBias, at), d.bNorm = orNull(base, L.bNorm, at);
        d.cNorm = orNull(base, L.cNorm, at), d.D = orNull(base, L.D, at);
        d.mimoX = orNull(base, L.mimoX, at), d.mimoZ = orNull(base, L.mimoZ, at);
        d.mimoO = orNull(base, L.mimoO, at), d.outNorm = orNull(base, L.outNorm, at);
        d.outProj = orNull(base, L.outProj, at), d.norm2 = orNull(base, L.norm2, at);
        d.fc1 = orNull(base, L.fc1, at), d.fc2 = orNull(base, L.fc2, at);
        m.layers.push_back(d);
    }
    return m;
}

// LECTERN_TRAIN_TF32=1: every projection (forward and backward) on the tensor cores in
// TF32 (10-bit mantissa products, fp32 accumulation), where no precision is asked for.
// Off by default: the golden and CPU comparisons hold the exact fp32 step.
bool tf32FromEnv() {
    const char* e = std::getenv("LECTERN_TRAIN_TF32");
    return e && *e && std::strcmp(e, "0") != 0;
}

TrainPrecision resolved(TrainPrecision p) {
    if (p != TrainPrecision::Default) return p;
    return tf32FromEnv() ? TrainPrecision::Tf32 : TrainPrecision::Fp32;
}

// LECTERN_TRAIN_SCAN_FORWARD=sequential: the one-block-per-row scan forward even where
// the chunked one applies (for before/after comparisons).
bool sequentialScanFromEnv() {
    const char* e = std::getenv("LECTERN_TRAIN_SCAN_FORWARD");
    return e && std::strcmp(e, "sequential") == 0;
}

Status gemmCheck(int e, const char* what) {
    if (e == 0) return Status::ok();
    return Status::error(std::string("cuBLAS: ") + what + " failed with status " +
                         std::to_string(e));
}

}  // namespace

Expected<TrainPrecision> parseTrainPrecision(const std::string& name) {
    if (name.empty()) return TrainPrecision::Default;
    if (name == "fp32") return TrainPrecision::Fp32;
    if (name == "tf32") return TrainPrecision::Tf32;
    if (name == "bf16") return TrainPrecision::Bf16;
    return Status::error("unknown training precision '" + name + "' (fp32, tf32 or bf16)");
}

const char* trainPrecisionName(TrainPrecision p) {
    switch (resolved(p)) {
        case TrainPrecision::Tf32:
            return "tf32";
        case TrainPrecision::Bf16:
            return "bf16";
        default:
            return "fp32";
    }
}

struct CudaTrainModel::Impl {
    model::ModelConfig cfg;
    ops::Mamba3Dims d;
    std::unique_ptr<Context> ctx;
    GemmContext gemm;
    int64_t maxB = 0, maxL = 0, params = 0;  // params: floats of one flat buffer
    int64_t optStep = 0;
    std::vector<Slot> slots;  // namedParams order
    // AdamW's chunk table (adamw_chunks), made at its first step.
    lectern::cuda::DeviceBuffer adamwTable;
    int64_t adamwChunks = 0;
    Arena paramArena, actArena;
    float *W = nullptr, *G = nullptr, *M = nullptr, *V = nullptr;
    uint16_t* Wb = nullptr;  // Bf16: the weights rounded to bf16 (same offsets as W)
    // Bf16: a GEMM's activation input, and the gradient entering it, rounded to bf16
    // (bfElems each); the logits' gradient is bf16 too, in dlogits's place (half its size).
    void *bfIn = nullptr, *bfOut = nullptr;
    int64_t bfElems = 0;
    DevModel w, g;
    std::vector<LayerSaves> saves;
    // Scratch shared by the layers.
    int32_t* ids = nullptr;
    float* rowWeights = nullptr;  // [rows]: --answer-weight's per-position gradient weights
    float *r = nullptr, *normed = nullptr, *delta = nullptr, *dnormed = nullptr, *dr = nullptr;
    float *logits = nullptr, *dlogits = nullptr, *q = nullptr, *k = nullptr, *dq = nullptr,
          *dk = nullptr;
    float *dtheta = nullptr, *ddtheta = nullptr, *thetaScratch = nullptr, *gated = nullptr,
          *dgated = nullptr;
    float *dy = nullptr, *dproj = nullptr, *ddt = nullptr, *dadt = nullptr, *dtrap = nullptr,
          *mlp = nullptr;
    float *angle = nullptr, *scanWs = nullptr;
    double* sums = nullptr;  // [0] the loss sum, [1] the gradients' sum of squares
    bool normValid = false;  // sums[1] holds the current gradients' sum of squares
    TrainPrecision precision = TrainPrecision::Fp32;  // resolved
    bool tf32 = false;                                // TF32 GEMMs (Tf32; Bf16's MLP backward)
    bool bf16 = false;
    bool chunkedScan = false;  // the scan forward by the engine's chunked kernels
    bool qkInScan = false;     // Bf16: q and k made inside the scan (LECTERN_TRAIN_QK_IN_SCAN=1)
    bool qkBf16 = true;  // Bf16: q and k written in bf16 for the scan (LECTERN_TRAIN_QK_BF16=0)
    bool walk = true;    // Bf16: the prefill's walk as the scan forward (LECTERN_TRAIN_WALK=0)
    // Bf16: the scalars, the running angles and q/k in bf16 by the prefill's fused q/k op
    // (LECTERN_TRAIN_FUSED_QK=0: preprocess, angles, then the q/k op, three launches).
    bool fusedQk = true;
    StepProfile prof;  // LECTERN_TRAIN_PROFILE=1: time per phase
    // The rotary and preprocess backward as one op where it fits, its angle walk included
    // (LECTERN_TRAIN_ROTARY_PRE_FUSED=0: the two ops apart; =1: the fused op without the
    // walk); its scratch: the per-block partial sums.
    bool rotaryPreFused = true, angleWalk = true;
    // Bf16: the backward's q and k recomputed in bf16 for the scan backward, where it takes
    // them and the fused rotary + preprocess backward (which rebuilds q, k itself) follows:
    // by the SISO recompute's bf16 instance where it applies, else the forward's op (the
    // default since the combined check of 2026-11-23 08:33 UTC: ~125M step 128.0/128.4 ->
    // 125.9 ms, the scan backward 50.7 -> 48.8 ms a step; training/NOTES-cuda.md).
    // LECTERN_TRAIN_SCAN_BWD_QK_BF16=0: fp32 q and k (as before); =prefill: always the
    // forward's bf16 q/k op (helper S6: no faster than fp32, that op 2.2 ms slower).
    enum class ScanBwdQk { Fp32, Bf16, Bf16Prefill } scanBwdQk = ScanBwdQk::Bf16;
    float* preScratch = nullptr;

    cudaStream_t stream() const { return ctx->stream(); }
    DeviceMatrix mat(const float* p, int64_t rows, int64_t cols) const {
        return DeviceMatrix{p, bf16Of(p), rows, cols};
    }
    const uint16_t* bf16Of(const float* p) const { return Wb ? Wb + (p - W) : nullptr; }
    Status linearBackward(float* din, float* dW, const float* dout, const float* in,
                          const float* Wt, int64_t rows, int64_t inF, int64_t outF,
                          const char* what, Operands o = {});
    ops::SsmScanInputs scanInputs(const DevLayer& L, const LayerSaves& a) const {
        return ops::SsmScanInputs{q,   k,      a.proj + d.offX(), d.dInProj(), a.adt, a.dt, a.trap,
                                  L.D, L.mimoX};
    }
    ops::Mamba3PreprocessParams pre(const DevLayer& L) const {
        return ops::Mamba3PreprocessParams{L.dtBias, L.bNorm, L.cNorm, L.bBias, L.cBias};
    }
    ops::Mamba3GateParams gate(const DevLayer& L) const {
        return ops::Mamba3GateParams{L.mimoZ, L.mimoO, L.outNorm};
    }
    // out = in · Wᵀ (linear_forward), or from inBf16 where not null (rows already rounded).
    int project(float* out, const float* in, const void* inBf16, const DeviceMatrix& Wm,
                int64_t rows) {
        return inBf16
                   ? lectern::cuda::linear_bf16_input_forward(gemm, out, inBf16, Wm, rows, stream())
                   : lectern::cuda::linear_forward(gemm, out, in, Wm.cols, Wm, rows, stream());
    }
    Status sizeActivations();
    Status checkedIds(const int32_t* host, int64_t B, int64_t L);
    Status forward(int64_t B, int64_t L);
    bool fusedQkForward(const DevLayer& Lw, const LayerSaves& a, int64_t B, int64_t L);
    Status scanForward(const DevLayer& Lw, const LayerSaves& a, int64_t B, int64_t L, bool qkMade);
    int64_t chunkScanFloats(int64_t B, int64_t L) const;
    Status lossBackward(int64_t B, int64_t L, double gradScale, bool grads, bool weighted = false);
    Status backward(int64_t B, int64_t L);
    Status mixerBackward(int i, int64_t B, int64_t L);
    void recomputeQk(const DevLayer& Lw, const LayerSaves& a, int64_t rows);
    bool recomputeQkBf16(const DevLayer& Lw, const LayerSaves& a, int64_t rows, int64_t L);
    Status inProjBackward(int i, int64_t rows);
    Status copyParams(float* base, model::ModelWeights& host, bool toDevice) const;
};

Status CudaTrainModel::Impl::sizeActivations() {
    const int64_t rows = maxB * maxL, D = cfg.dModel, Vp = cfg.vocabPadded(), F = cfg.mlpHidden();
    const int64_t qk = int64_t(d.R) * d.H * d.N, HA = int64_t(d.H) * std::max(d.A, 1);
    bfElems = bf16 ? rows * std::max({D, d.dInner(), d.dInProj(), F}) : 0;
    const int64_t hsFloats =
        maxB * ssm_scan_checkpoints(maxL, kScanRecomputeChunk) * int64_t(d.H) * d.P * d.N;
    // The scan's workspace serves the backward and, one layer at a time, the chunked forward.
    const int64_t scanWsFloats =
        std::max(cuda::ssm_scan_backward_workspace_floats(d, maxB, maxL, kScanRecomputeChunk),
                 chunkedScan ? chunkScanFloats(maxB, maxL) : 0);
    auto f = [&](int64_t n) { return size_t(std::max<int64_t>(n, 1)) * 4; };
    actArena = Arena();
    for (int i = 0; i < cfg.nLayer; ++i) {
        actArena.reserve(f(rows * D));
        actArena.reserve(f(rows * d.dInProj()));
        for (int j = 0; j < 3; ++j) actArena.reserve(f(rows * d.H));
        actArena.reserve(f(rows * HA));
        actArena.reserve(f(hsFloats));
        actArena.reserve(f(rows * d.R * d.H * d.P));
        if (F > 0) actArena.reserve(f(rows * D));
    }
    const int64_t scratch[] = {rows * D,
                               rows * D,
                               rows * D,
                               rows * D,
                               rows * D,
                               rows * Vp,
                               bf16 ? (rows * Vp + 1) / 2 : rows * Vp,  // dlogits
                               rows * qk,
                               rows * qk,
                               rows * qk,
                               rows * qk,
                               rows * HA,
                               rows * HA,
                               rows * HA,
                               rows * d.dInner(),
                               rows * d.dInner(),
                               rows * d.R * d.H * d.P,
                               rows * d.dInProj(),
                               rows * d.H,
                               rows * d.H,
                               rows * d.H,
                               rows * 3 * F,
                               maxB * HA,
                               scanWsFloats};
    float** ptrs[] = {&r,  &normed, &delta, &dnormed, &dr,      &logits,       &dlogits, &q,
                      &k,  &dq,     &dk,    &dtheta,  &ddtheta, &thetaScratch, &gated,   &dgated,
                      &dy, &dproj,  &ddt,   &dadt,    &dtrap,   &mlp,          &angle,   &scanWs};
    static_assert(std::size(scratch) == std::size(ptrs));
    for (int64_t n : scratch) actArena.reserve(f(n));
    const int64_t preFloats =
        rotaryPreFused ? cuda::mamba3_rotary_preprocess_backward_scratch_floats(d) : 0;
    actArena.reserve(f(preFloats));
    if (bf16)
        for (int i = 0; i < 2; ++i) actArena.reserve(size_t(bfElems) * 2);
    actArena.reserve(size_t(rows) * 4);
    actArena.reserve(size_t(rows) * 4);
    actArena.reserve(2 * sizeof(double));
    if (Status st = actArena.allocate("training activations for batch " + std::to_string(maxB) +
                                      " x " + std::to_string(maxL) + " tokens");
        !st)
        return st;
    saves.assign(size_t(cfg.nLayer), LayerSaves{});
    for (LayerSaves& a : saves) {
        a.resid = static_cast<float*>(actArena.take(f(rows * D)));
        a.proj = static_cast<float*>(actArena.take(f(rows * d.dInProj())));
        a.dt = static_cast<float*>(actArena.take(f(rows * d.H)));
        a.adt = static_cast<float*>(actArena.take(f(rows * d.H)));
        a.trap = static_cast<float*>(actArena.take(f(rows * d.H)));
        a.theta = static_cast<float*>(actArena.take(f(rows * HA)));
        a.hs = static_cast<float*>(actArena.take(f(hsFloats)));
        a.y = static_cast<float*>(actArena.take(f(rows * d.R * d.H * d.P)));
        if (F > 0) a.resid2 = static_cast<float*>(actArena.take(f(rows * D)));
    }
    for (size_t i = 0; i < std::size(ptrs); ++i)
        *ptrs[i] = static_cast<float*>(actArena.take(f(scratch[i])));
    preScratch = static_cast<float*>(actArena.take(f(preFloats)));
    if (bf16) {
        bfIn = actArena.take(size_t(bfElems) * 2);
        bfOut = actArena.take(size_t(bfElems) * 2);
        gemm.bf16Scratch = bfIn;
        gemm.bf16ScratchElems = bfElems;
    }
    ids = static_cast<int32_t*>(actArena.take(size_t(rows) * 4));
    rowWeights = static_cast<float*>(actArena.take(size_t(rows) * 4));
    sums = static_cast<double*>(actArena.take(2 * sizeof(double)));
    return Status::ok();
}

Status CudaTrainModel::Impl::checkedIds(const int32_t* host, int64_t B, int64_t L) {
    if (B < 1 || L < 2 || B > maxB || L > maxL)
        return Status::error("CUDA training: a batch of " + std::to_string(B) + " x " +
                             std::to_string(L) + " tokens does not fit the " +
                             std::to_string(maxB) + " x " + std::to_string(maxL) +
                             " it was sized for");
    const int64_t Vp = cfg.vocabPadded();
    for (int64_t i = 0; i < B * L; ++i)
        if (host[i] < 0 || host[i] >= Vp)
            return Status::error("token id " + std::to_string(host[i]) + " at index " +
                                 std::to_string(i) + " is outside the vocabulary [0, " +
                                 std::to_string(Vp) + ")");
    return cudaCheck(
        cudaMemcpyAsync(ids, host, size_t(B * L) * 4, cudaMemcpyHostToDevice, stream()),
        "uploading token ids");
}

// The forward of train_forward for B rows at once, keeping LayerSaves; logits in `logits`,
// the final norm's input in r and output in normed.
Status CudaTrainModel::Impl::forward(int64_t B, int64_t L) {
    const cudaStream_t s = stream();
    const int64_t rows = B * L, D = cfg.dModel, F = cfg.mlpHidden();
    const float eps = cfg.normEps;
    const int64_t HA = int64_t(d.H) * std::max(d.A, 1);
    if (bf16) {
        // The bf16 copies from the fp32 masters: once a step, after AdamW (or a LoRA merge)
        // whatever changed them. 0.3 ms for 130 M parameters on the H100.
        prof.begin("fwd bf16 weights", s);
        cublasSetMathMode(ctx->cublas(), CUBLAS_DEFAULT_MATH);
        lectern::cuda::to_bf16(Wb, W, params, s);
    }
    // Each block's output is written straight into the buffer its residual sum is kept in
    // (the next LayerSaves' resid / resid2, or r for the final norm), and the in-place add
    // there adds the previous residual: out + resid is resid + out to the bit (IEEE addition
    // commutes), and no copy of the residual stream into the saves is needed (2 x 50 MB a
    // layer at 4 x 4096 x 768).
    const auto nextResid = [&](int i) {
        return i + 1 < cfg.nLayer ? saves[size_t(i + 1)].resid : r;
    };
    prof.begin("fwd embedding", s);
    lectern::cuda::embedding_forward(nextResid(-1), ids, rows, w.embedding, D, s);
    const float* prev = nullptr;  // the residual before the block whose output is in place
    for (int i = 0; i < cfg.nLayer; ++i) {
        const DevLayer& Lw = w.layers[size_t(i)];
        const LayerSaves& a = saves[size_t(i)];
        prof.begin("fwd norm", s);
        // Bf16: the normed rows straight into the in_proj's bf16 operand (the fp32 rows are
        // needed by nothing else: the backward recomputes them).
        const void* normedB = nullptr;
        if (bf16 && lectern::cuda::prefill_add_rmsnorm_bf16_forward(bfIn, a.resid, prev, Lw.norm,
                                                                    rows, D, eps, s))
            normedB = bfIn;
        else
            lectern::cuda::add_rmsnorm_forward(normed, a.resid, prev, Lw.norm, rows, D, eps, s);
        prof.begin("fwd in_proj", s);
        // The mixer (mixer_train_forward), with the engine's fused q/k path.
        if (Status st = gemmCheck(
                project(a.proj, normed, normedB, mat(Lw.inProj, d.dInProj(), D), rows), "in_proj");
            !st)
            return st;
        const bool qkMade = fusedQkForward(Lw, a, B, L);
        if (!qkMade) {
            prof.begin("fwd preprocess+angles", s);
            lectern::cuda::mamba3_preprocess_scalars_forward(d, pre(Lw), a.proj, rows, a.dt, a.adt,
                                                             a.trap, dtheta, s);
            cudaMemsetAsync(angle, 0, size_t(B * HA) * 4, s);
            lectern::cuda::rotary_theta_forward(d, angle, dtheta, a.theta, B, L, s);
        }
        prof.begin("fwd scan (+qk)", s);
        if (Status st = scanForward(Lw, a, B, L, qkMade); !st) return st;
        prof.begin("fwd gate", s);
        const void* gatedB = nullptr;  // Bf16: the gate's output rounded as it is stored
        if (bf16 && cuda::mamba3_gate_forward_bf16(d, gate(Lw), a.y, a.proj + d.offZ(), d.dInProj(),
                                                   rows, bfIn, s) == cudaSuccess)
            gatedB = bfIn;
        else
            lectern::cuda::mamba3_gate_forward(d, gate(Lw), a.y, a.proj + d.offZ(), d.dInProj(),
                                               rows, gated, s);
        prof.begin("fwd out_proj", s);
        float* mixOut = F > 0 ? a.resid2 : nextResid(i);
        if (Status st = gemmCheck(
                project(mixOut, gated, gatedB, mat(Lw.outProj, D, d.dInner()), rows), "out_proj");
            !st)
            return st;
        prev = a.resid;
        if (F > 0) {
            prof.begin("fwd mlp", s);
            lectern::cuda::add_rmsnorm_forward(normed, a.resid2, prev, Lw.norm2, rows, D, eps, s);
            if (Status st = gemmCheck(lectern::cuda::gated_mlp_forward(
                                          gemm, nextResid(i), normed, mat(Lw.fc1, 2 * F, D),
                                          mat(Lw.fc2, D, F), mlp, rows, s),
                                      "the MLP");
                !st)
                return st;
            prev = a.resid2;
        }
    }
    prof.begin("fwd final norm + lm_head", s);
    lectern::cuda::add_rmsnorm_forward(normed, r, prev, w.normF, rows, D, eps, s);
    if (Status st =
            gemmCheck(lectern::cuda::lm_head_forward(gemm, logits, normed, D,
                                                     mat(w.lmHead, cfg.vocabPadded(), D), rows, s),
                      "the LM head");
        !st)
        return st;
    prof.end(s);
    return cudaCheck(cudaGetLastError(), "launching the training forward");
}

// Bf16 (SISO): dt, A·dt, trap, the running angles (a.theta) and q, k in bf16 (q's buffer,
// then each row's last k row in fp32 in k: mamba3_qk_rotated_bf16_forward's form) in one
// launch of the prefill's fused q/k op, where the scan forward will read that form. The
// increments never go through device memory; dtheta's space holds the op's segment sums.
// False, nothing launched, where it does not apply: the three ops then run as before.
bool CudaTrainModel::Impl::fusedQkForward(const DevLayer& Lw, const LayerSaves& a, int64_t B,
                                          int64_t L) {
    if (!fusedQk || !bf16 || !qkBf16 || qkInScan || !chunkedScan || d.mimo || d.R != 1)
        return false;
    const cudaStream_t s = stream();
    const int64_t rows = B * L, HA = int64_t(d.H) * std::max(d.A, 1);
    const int64_t qkHalf = rows * d.H * int64_t(d.N) / 2;  // floats of q in bf16
    prof.begin("fwd preprocess+angles+qk (fused)", s);
    cudaMemsetAsync(angle, 0, size_t(B * HA) * 4, s);
    return lectern::cuda::prefill_qk_angles_bf16_theta_forward(
        d, pre(Lw), a.proj, B, L, angle, dtheta, size_t(rows * HA) * 4, q, q + qkHalf, k, a.dt,
        a.adt, a.trap, a.theta, s);
}

// The chunked forward's floats in scanWs: its workspace (chunk states and decays), then the
// zero initial state it starts each row from (ssm [B, H, P, N], pending k [B, R, H, N] and
// x [B, H, P]), 64-float aligned.
int64_t CudaTrainModel::Impl::chunkScanFloats(int64_t B, int64_t L) const {
    return align64(lectern::cuda::ssm_chunk_scan_workspace_floats(d, B, L)) +
           align64(B * d.H * int64_t(d.P) * d.N) + align64(B * d.R * d.H * int64_t(d.N)) +
           align64(B * d.H * int64_t(d.P));
}

// The scan's forward: y and the checkpoints (the state entering every chunk of
// kScanRecomputeChunk tokens). Where the engine's chunk (ssm_chunk_tokens: 64 / R) divides
// the checkpoint chunk, its chunked scan runs every chunk of every head in parallel and its
// inter-chunk pass leaves each chunk's incoming state in the workspace: those are the
// checkpoints, copied to their [B, chunk, H, P, N] places. That replaces a walk over the
// tokens of each (row, head) by one block: 3.6 instead of 39 ms a layer at 4 x 4096 on the
// H100 (NOTES-cuda.md). Else the sequential ssm_scan_forward_checkpoint.
// qkMade: q and k are in q's buffer in bf16 already (fusedQkForward).
Status CudaTrainModel::Impl::scanForward(const DevLayer& Lw, const LayerSaves& a, int64_t B,
                                         int64_t L, bool qkMade) {
    const cudaStream_t s = stream();
    const int64_t rows = B * L;
    const int ck = lectern::cuda::ssm_chunk_tokens(d);
    if (!chunkedScan || ck <= 0 || kScanRecomputeChunk % ck != 0) {
        lectern::cuda::mamba3_qk_rotated_forward(d, pre(Lw), a.proj, rows, a.theta, q, k, s);
        return cudaCheck(cuda::ssm_scan_forward_checkpoint(d, scanInputs(Lw, a), B, L,
                                                           kScanRecomputeChunk, a.y, a.hs, s),
                         "the scan's forward");
    }
    const int64_t PN = int64_t(d.P) * d.N,
                  wsF = lectern::cuda::ssm_chunk_scan_workspace_floats(d, B, L);
    const int64_t nC = (L + ck - 1) / ck, nChk = ssm_scan_checkpoints(L, kScanRecomputeChunk);
    const int64_t stride = kScanRecomputeChunk / ck;
    lectern::cuda::ScanWorkspace ws;
    ws.chunkStates = scanWs;
    ws.chunkDecay = scanWs + B * d.H * nC * PN;
    ws.floats = wsF;
    float* st0 = scanWs + align64(wsF);
    const ops::SsmStateRef zero{
        st0, st0 + align64(B * d.H * PN),
        st0 + align64(B * d.H * PN) + align64(B * d.R * d.H * int64_t(d.N))};
    cudaMemsetAsync(st0, 0, size_t(chunkScanFloats(B, L) - align64(wsF)) * 4, s);
    // Bf16: q and k written first, then the tensor-core scan reads them: faster on the H100
    // at 4 x 4096 than LECTERN_TRAIN_QK_IN_SCAN=1, where the scan makes q and k itself from
    // the in_proj rows as it loads a chunk (~125M: 36.6 against 50.9 ms a step for the
    // phase, NOTES-cuda.md); that form refuses shapes it cannot take (cudaErrorInvalidValue,
    // nothing launched: then q and k first, as in the other modes).
    cudaError_t e = cudaErrorInvalidValue;
    const ScanMath math = bf16 ? ScanMath::Bf16 : ScanMath::Fp32;
    if (bf16 && qkInScan && !qkMade) {
        const lectern::cuda::QKFromProj qp{a.proj, pre(Lw), a.theta};
        e = lectern::cuda::ssm_chunk_scan_forward(d, scanInputs(Lw, a), B, L, a.y, zero, ws, s,
                                                  math, &qp);
    }
    if (e == cudaErrorInvalidValue) {
        // Bf16: q then k in bf16 in q's buffer (the form the tensor-core scan multiplies in:
        // half the bytes written and read), each row's last k row in fp32 in k; where that op
        // or the scan refuses the shape, q and k in fp32.
        const int64_t qkHalf = rows * d.R * d.H * int64_t(d.N) / 2;  // floats of q in bf16
        if (qkMade || (bf16 && qkBf16 && rows * d.R * d.H * int64_t(d.N) % 2 == 0 &&
                       lectern::cuda::mamba3_qk_rotated_bf16_forward(
                           d, pre(Lw), a.proj, rows, L, a.theta, q, q + qkHalf, k, s))) {
            lectern::cuda::ScanWorkspace wsB = ws;
            wsB.qkBf16 = q;
            // The prefill's walk (SISO: 64-token chunks, each (row, head) in order with the
            // state on chip) writes y and the checkpoints itself: no chunk states through
            // device memory and no gather (issue 5). It refuses shapes it cannot take.
            constexpr int kWalkChunk = 64;
            if (walk && kScanRecomputeChunk % kWalkChunk == 0 &&
                lectern::cuda::ssm_prefill_scan_fits(d)) {
                e = lectern::cuda::ssm_prefill_scan_forward_checkpoints(
                    d, scanInputs(Lw, a), B, L, a.y, zero, wsB, s, a.hs,
                    kScanRecomputeChunk / kWalkChunk);
                if (e != cudaErrorInvalidValue) return cudaCheck(e, "the scan's walk forward");
            }
            e = lectern::cuda::ssm_chunk_scan_forward(d, scanInputs(Lw, a), B, L, a.y, zero, wsB, s,
                                                      math);
        }
        if (e == cudaErrorInvalidValue) {
            lectern::cuda::mamba3_qk_rotated_forward(d, pre(Lw), a.proj, rows, a.theta, q, k, s);
            e = lectern::cuda::ssm_chunk_scan_forward(d, scanInputs(Lw, a), B, L, a.y, zero, ws, s,
                                                      math);
        }
    }
    if (Status st = cudaCheck(e, "the scan's chunked forward"); !st) return st;
    return cudaCheck(
        cuda::gather_chunk_states(ws.chunkStates, B, d.H, nC, PN, stride, nChk, a.hs, s),
        "copying the scan's checkpoints");
}

// linear_backward (din += dout · W, or = where o.dinWritten; dW += doutᵀ · in; rows of inF
// and outF floats), in the step's precision. Bf16: in and dout rounded into bfIn and bfOut
// (unless o says they already are), the bf16 weight copy, fp32 accumulation into din and dW.
Status CudaTrainModel::Impl::linearBackward(float* din, float* dW, const float* dout,
                                            const float* in, const float* Wt, int64_t rows,
                                            int64_t inF, int64_t outF, const char* what,
                                            Operands o) {
    const cudaStream_t s = stream();
    if (!bf16)
        return gemmCheck(cuda::linear_backward(ctx->cublas(), din, inF, dW, dout, in, inF, Wt, rows,
                                               inF, outF, s, tf32, o.dinWritten),
                         what);
    const void* inB = o.inBf16;
    if (inB == nullptr) {
        lectern::cuda::to_bf16(bfIn, in, rows * inF, s);
        inB = bfIn;
    }
    const void* doutB = dout;
    if (!o.doutBf16) {
        lectern::cuda::to_bf16(bfOut, dout, rows * outF, s);
        doutB = bfOut;
    }
    return gemmCheck(cuda::linear_backward_bf16(ctx->cublas(), din, inF, dW, doutB, inB, inF,
                                                bf16Of(Wt), rows, inF, outF, s, o.dinWritten),
                     what);
}

// The backward's q and k (rotated) in fp32, as the scan forward's fp32 forms made them.
void CudaTrainModel::Impl::recomputeQk(const DevLayer& Lw, const LayerSaves& a, int64_t rows) {
    const cudaStream_t s = stream();
    if (!bf16 || !cuda::mamba3_qk_rotated_siso_forward(d, pre(Lw), a.proj, rows, a.theta, q, k, s))
        lectern::cuda::mamba3_qk_rotated_forward(d, pre(Lw), a.proj, rows, a.theta, q, k, s);
}

// Bf16: q then k in bf16 in q's buffer for the scan backward (scanBwdQk's op; the forward's
// also writes each row's last k row in fp32 in k), where it takes them and nothing else reads
// q or k (the fused rotary + preprocess backward rebuilds them from proj); false, nothing
// launched, elsewhere.
bool CudaTrainModel::Impl::recomputeQkBf16(const DevLayer& Lw, const LayerSaves& a, int64_t rows,
                                           int64_t L) {
    const int64_t qkFloats = rows * d.R * d.H * int64_t(d.N);
    if (!bf16 || scanBwdQk == ScanBwdQk::Fp32 || !rotaryPreFused || qkFloats % 2 != 0 ||
        !cuda::ssm_scan_backward_takes_bf16_qk(d, kScanRecomputeChunk, cuda::ScanBackwardPath::Auto,
                                               tf32))
        return false;
    if (scanBwdQk == ScanBwdQk::Bf16 &&
        cuda::mamba3_qk_rotated_siso_bf16_forward(d, pre(Lw), a.proj, rows, a.theta, q,
                                                  q + qkFloats / 2, stream()))
        return true;
    return lectern::cuda::mamba3_qk_rotated_bf16_forward(d, pre(Lw), a.proj, rows, L, a.theta, q,
                                                         q + qkFloats / 2, k, stream());
}

Status CudaTrainModel::Impl::mixerBackward(int i, int64_t B, int64_t L) {
    const cudaStream_t s = stream();
    const int64_t rows = B * L, D = cfg.dModel;
    const DevLayer& Lw = w.layers[size_t(i)];
    const DevLayer& Lg = g.layers[size_t(i)];
    const LayerSaves& a = saves[size_t(i)];
    // Recomputed: q and k (rotated), the gate's output (Bf16: straight into the out_proj
    // backward's bf16 operand; only that GEMM reads it).
    prof.begin("bwd recompute qk + gate", s);
    // Bf16 with scanBwdQk: q then k in bf16 in q's buffer (half the bytes written and read; exact
    // in the scan backward's TF32 products), where only the scan backward reads them. Else fp32,
    // by the SISO float4 form where it applies (the fp32 and TF32 steps keep the engine's op,
    // which the golden comparisons ran with).
    const bool qkB = recomputeQkBf16(Lw, a, rows, L);
    if (!qkB) recomputeQk(Lw, a, rows);
    Operands outOps{.dinWritten = true};
    if (bf16) {
        if (Status st =
                cudaCheck(cuda::mamba3_gate_forward_bf16(d, gate(Lw), a.y, a.proj + d.offZ(),
                                                         d.dInProj(), rows, bfIn, s),
                          "the gate's recompute");
            !st)
            return st;
        outOps.inBf16 = bfIn;
    } else {
        lectern::cuda::mamba3_gate_forward(d, gate(Lw), a.y, a.proj + d.offZ(), d.dInProj(), rows,
                                           gated, s);
    }

    prof.begin("bwd out_proj", s);
    if (Status st = linearBackward(dgated, Lg.outProj, dr, gated, Lw.outProj, rows, d.dInner(), D,
                                   "out_proj backward", outOps);
        !st)
        return st;
    prof.begin("bwd gate", s);
    // dy and dproj's z columns are written by the gate, x's by the scan (ScanQkxGrads::Write,
    // like dq and dk); the columns from B on are added to (the preprocess backward): only those
    // are zeroed.
    const int64_t fromB = d.dInProj() - d.offB();
    cudaMemset2DAsync(dproj + d.offB(), size_t(d.dInProj()) * 4, 0, size_t(fromB) * 4, size_t(rows),
                      s);
    const Mamba3GateGrads gg{Lg.mimoZ, Lg.mimoO, Lg.outNorm};
    if (Status st = cudaCheck(
            cuda::mamba3_gate_backward(d, gate(Lw), gg, a.y, a.proj + d.offZ(), d.dInProj(), rows,
                                       dgated, dy, dproj + d.offZ(), s, true),
            "the gate's backward");
        !st)
        return st;
    prof.begin("bwd scan", s);
    cudaMemsetAsync(ddt, 0, size_t(rows * d.H) * 4, s);
    cudaMemsetAsync(dadt, 0, size_t(rows * d.H) * 4, s);
    cudaMemsetAsync(dtrap, 0, size_t(rows * d.H) * 4, s);
    const SsmScanGrads sg{dq, dk, dproj + d.offX(), dadt, ddt, dtrap, Lg.D, Lg.mimoX};
    if (Status st = cudaCheck(
            cuda::ssm_scan_backward_recompute(d, scanInputs(Lw, a), a.hs, B, L, kScanRecomputeChunk,
                                              dy, sg, scanWs, s, cuda::ScanBackwardPath::Auto, tf32,
                                              cuda::ScanQkxGrads::Write, qkB ? q : nullptr),
            "the scan's backward");
        !st)
        return st;
    const Mamba3PreprocessGrads pg{Lg.dtBias, Lg.bNorm, Lg.cNorm, Lg.bBias, Lg.cBias};
    if (rotaryPreFused) {
        // One pass over dq and dk (never un-rotated in memory), parameter sums in a fixed order.
        prof.begin("bwd rotary + preprocess", s);
        const cudaError_t e = cuda::mamba3_rotary_preprocess_backward(
            d, pre(Lw), pg, a.proj, a.theta, B, L, dq, dk, ddt, dadt, dtrap, dproj, thetaScratch,
            ddtheta, preScratch, s, angleWalk);
        if (e != cudaErrorNotSupported) {
            if (Status st = cudaCheck(e, "the rotary and preprocess backward"); !st) return st;
            return inProjBackward(i, rows);
        }
    }
    if (qkB) {  // the fused op refused after all: the unfused ops read fp32 q and k
        prof.begin("bwd recompute qk + gate", s);
        recomputeQk(Lw, a, rows);
    }
    prof.begin("bwd rotary", s);
    if (Status st = cudaCheck(cuda::rotary_theta_backward(d, q, k, a.theta, B, L, dq, dk, ddtheta,
                                                          thetaScratch, s, true),
                              "the rotary angles' backward");
        !st)
        return st;
    prof.begin("bwd preprocess", s);
    if (Status st = cudaCheck(cuda::mamba3_preprocess_backward(d, pre(Lw), pg, a.proj, rows, dq, dk,
                                                               ddt, dadt, dtrap, ddtheta, dproj, s),
                              "the preprocess backward");
        !st)
        return st;
    return inProjBackward(i, rows);
}

// The norm's output, recomputed (Bf16: straight into the in_proj backward's bf16 operand, no
// fp32 row between), then in_proj's backward writes dnormed.
Status CudaTrainModel::Impl::inProjBackward(int i, int64_t rows) {
    const cudaStream_t s = stream();
    const int64_t D = cfg.dModel;
    const DevLayer& Lw = w.layers[size_t(i)];
    const DevLayer& Lg = g.layers[size_t(i)];
    const LayerSaves& a = saves[size_t(i)];
    prof.begin("bwd norms", s);
    Operands inOps{.dinWritten = true};
    if (bf16 && lectern::cuda::prefill_add_rmsnorm_bf16_forward(bfIn, a.resid, nullptr, Lw.norm,
                                                                rows, D, cfg.normEps, s))
        inOps.inBf16 = bfIn;
    else
        lectern::cuda::rmsnorm_forward(normed, a.resid, Lw.norm, rows, D, cfg.normEps, s);
    prof.begin("bwd in_proj", s);
    return linearBackward(dnormed, Lg.inProj, dproj, normed, Lw.inProj, rows, D, d.dInProj(),
                          "in_proj backward", inOps);
}

// train_backward for B rows at once, from dlogits.
Status CudaTrainModel::Impl::backward(int64_t B, int64_t L) {
    const cudaStream_t s = stream();
    cublasHandle_t h = ctx->cublas();
    const int64_t rows = B * L, D = cfg.dModel, F = cfg.mlpHidden(), Vp = cfg.vocabPadded();
    const float eps = cfg.normEps;
    const size_t rowBytes = size_t(rows * D) * 4;
    prof.begin("bwd lm_head", s);
    cudaMemsetAsync(dr, 0, rowBytes, s);
    float* dHead = cfg.tieEmbeddings ? g.embedding : g.lmHead;
    if (Status st = linearBackward(dnormed, dHead, dlogits, normed, w.lmHead, rows, D, Vp,
                                   "LM head backward", {.doutBf16 = bf16, .dinWritten = true});
        !st)
        return st;
    prof.begin("bwd norms", s);
    if (Status st =
            cudaCheck(cuda::rmsnorm_backward(dr, g.normF, dnormed, r, w.normF, rows, D, eps, s),
                      "the final norm's backward");
        !st)
        return st;
    for (int i = cfg.nLayer - 1; i >= 0; --i) {
        const DevLayer& Lw = w.layers[size_t(i)];
        const DevLayer& Lg = g.layers[size_t(i)];
        const LayerSaves& a = saves[size_t(i)];
        if (F > 0) {
            prof.begin("bwd mlp", s);
            cudaMemsetAsync(dnormed, 0, rowBytes, s);
            lectern::cuda::rmsnorm_forward(normed, a.resid2, Lw.norm2, rows, D, eps, s);
            if (Status st =
                    gemmCheck(cuda::gated_mlp_backward(h, dnormed, Lg.fc1, Lg.fc2, dr, normed,
                                                       Lw.fc1, Lw.fc2, rows, D, F, mlp, s, tf32),
                              "MLP backward");
                !st)
                return st;
            if (Status st = cudaCheck(cuda::rmsnorm_backward(dr, Lg.norm2, dnormed, a.resid2,
                                                             Lw.norm2, rows, D, eps, s),
                                      "the MLP norm's backward");
                !st)
                return st;
        }
        if (Status st = mixerBackward(i, B, L); !st) return st;
        prof.begin("bwd norms", s);
        if (Status st = cudaCheck(
                cuda::rmsnorm_backward(dr, Lg.norm, dnormed, a.resid, Lw.norm, rows, D, eps, s),
                "the norm's backward");
            !st)
            return st;
    }
    prof.begin("bwd embedding", s);
    if (Status st = cudaCheck(cuda::embedding_backward(g.embedding, dr, ids, rows, D, s),
                              "the embedding's backward");
        !st)
        return st;
    prof.end(s);
    return cudaCheck(cudaGetLastError(), "launching the training backward");
}

Status CudaTrainModel::Impl::lossBackward(int64_t B, int64_t L, double gradScale, bool grads,
                                          bool weighted) {
    const cudaStream_t s = stream();
    if (Status st = forward(B, L); !st) return st;
    prof.begin("loss (cross-entropy)", s);
    cudaMemsetAsync(sums, 0, sizeof(double), s);
    const cudaError_t ce =
        bf16 ? cuda::cross_entropy_forward_backward_bf16(logits, ids, B, L, cfg.vocabPadded(), sums,
                                                         gradScale, grads ? dlogits : nullptr, s,
                                                         weighted ? rowWeights : nullptr)
             : cuda::cross_entropy_forward_backward(logits, ids, B, L, cfg.vocabPadded(), sums,
                                                    gradScale, grads ? dlogits : nullptr, s,
                                                    weighted ? rowWeights : nullptr);
    if (Status st = cudaCheck(ce, "the cross-entropy"); !st) return st;
    prof.end(s);
    if (grads) {
        normValid = false;
        return backward(B, L);
    }
    return Status::ok();
}

Status CudaTrainModel::Impl::copyParams(float* base, model::ModelWeights& host,
                                        bool toDevice) const {
    std::vector<NamedTensor> named = namedParams(cfg, host);
    if (named.size() != slots.size())
        return Status::error("CUDA training: the host weights do not match the model");
    for (size_t i = 0; i < named.size(); ++i) {
        std::vector<float>& v = *named[i].data;
        if (int64_t(v.size()) != slots[i].n)
            return Status::error("CUDA training: " + slots[i].name + " has " +
                                 std::to_string(v.size()) + " values, expected " +
                                 std::to_string(slots[i].n));
        float* dev = base + slots[i].offset;
        const cudaError_t e =
            toDevice
                ? cudaMemcpyAsync(dev, v.data(), v.size() * 4, cudaMemcpyHostToDevice, stream())
                : cudaMemcpyAsync(v.data(), dev, v.size() * 4, cudaMemcpyDeviceToHost, stream());
        if (Status st = cudaCheck(e, "copying " + slots[i].name); !st) return st;
    }
    return cudaCheck(cudaStreamSynchronize(stream()), "copying the parameters");
}

CudaTrainModel::CudaTrainModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaTrainModel::~CudaTrainModel() = default;

Expected<std::unique_ptr<CudaTrainModel>> CudaTrainModel::create(
    const model::ModelConfig& cfg, const model::ModelWeights& w, const AdamWState& opt,
    int64_t maxBatch, int64_t maxLen, int device, bool withMoments, TrainPrecision precision) {
    auto info = lectern::cuda::probeDevice(device);
    if (!info) return info.status();
    if (maxBatch < 1 || maxLen < 2)
        return Status::error("CUDA training needs a batch >= 1 and a sequence length >= 2");
    auto impl = std::make_unique<Impl>();
    Impl& m = *impl;
    m.cfg = cfg;
    m.d = cfg.dims();
    m.maxB = maxBatch, m.maxL = maxLen;
    auto ctx = Context::create(device);
    if (!ctx) return ctx.status();
    m.ctx.reset(*ctx);
    m.gemm.handle = m.ctx->cublas();
    m.precision = resolved(precision);
    m.bf16 = m.precision == TrainPrecision::Bf16;
    // Bf16's MLP backward (gated_mlp_backward has no bf16 form) runs in TF32.
    m.tf32 = m.precision != TrainPrecision::Fp32;
    m.gemm.precision = m.bf16 ? Precision::Bf16 : m.tf32 ? Precision::Tf32 : Precision::Fp32;
    m.chunkedScan = !sequentialScanFromEnv();
    if (const char* e = std::getenv("LECTERN_TRAIN_QK_IN_SCAN"))
        m.qkInScan = *e && std::strcmp(e, "0") != 0;
    if (const char* e = std::getenv("LECTERN_TRAIN_QK_BF16")) m.qkBf16 = std::strcmp(e, "0") != 0;
    if (const char* e = std::getenv("LECTERN_TRAIN_WALK")) m.walk = std::strcmp(e, "0") != 0;
    if (const char* e = std::getenv("LECTERN_TRAIN_FUSED_QK")) m.fusedQk = std::strcmp(e, "0") != 0;
    if (const char* e = std::getenv("LECTERN_TRAIN_SCAN_BWD_QK_BF16"))
        m.scanBwdQk = std::strcmp(e, "prefill") == 0 ? Impl::ScanBwdQk::Bf16Prefill
                      : std::strcmp(e, "0") != 0     ? Impl::ScanBwdQk::Bf16
                                                     : Impl::ScanBwdQk::Fp32;
    if (const char* e = std::getenv("LECTERN_TRAIN_ROTARY_PRE_FUSED")) {
        m.rotaryPreFused = std::strcmp(e, "0") != 0;
        m.angleWalk = std::strcmp(e, "1") != 0;
    }

    // The flat layout: every tensor at a 256-byte aligned offset, the same in W, G, M, V.
    model::ModelWeights shape = zerosLike(cfg);
    std::map<const void*, int64_t> at;
    for (NamedTensor& t : namedParams(cfg, shape)) {
        m.slots.push_back(Slot{t.name, m.params, int64_t(t.data->size())});
        at[t.data] = m.params;
        m.params += align64(int64_t(t.data->size()));
    }
    const size_t bytes = size_t(m.params) * 4;
    const int buffers = withMoments ? 4 : 2;
    for (int i = 0; i < buffers; ++i) m.paramArena.reserve(bytes);
    if (m.bf16) m.paramArena.reserve(size_t(m.params) * 2);
    if (Status st =
            m.paramArena.allocate(std::string(withMoments ? "weights, gradients and AdamW moments ("
                                                          : "weights and gradients (") +
                                  std::to_string(m.slots.size()) + " tensors)");
        !st)
        return st;
    m.W = static_cast<float*>(m.paramArena.take(bytes));
    m.G = static_cast<float*>(m.paramArena.take(bytes));
    if (withMoments) {
        m.M = static_cast<float*>(m.paramArena.take(bytes));
        m.V = static_cast<float*>(m.paramArena.take(bytes));
    }
    if (m.bf16) m.Wb = static_cast<uint16_t*>(m.paramArena.take(size_t(m.params) * 2));
    for (float* p : {m.W, m.G, m.M, m.V})
        if (p)
            if (Status st =
                    cudaCheck(cudaMemsetAsync(p, 0, bytes, m.stream()), "zeroing parameters");
                !st)
                return st;
    m.w = bind(cfg, shape, at, m.W);
    m.g = bind(cfg, shape, at, m.G);
    shape = model::ModelWeights{};
    if (Status st = m.sizeActivations(); !st) return st;

    // Upload (the copies take the host vectors by const: namedParams wants non-const).
    model::ModelWeights& hw = const_cast<model::ModelWeights&>(w);
    if (Status st = m.copyParams(m.W, hw, true); !st) return st;
    if (withMoments && opt.m.layers.size() == size_t(cfg.nLayer)) {
        if (Status st = m.copyParams(m.M, const_cast<model::ModelWeights&>(opt.m), true); !st)
            return st;
        if (Status st = m.copyParams(m.V, const_cast<model::ModelWeights&>(opt.v), true); !st)
            return st;
    }
    m.optStep = opt.step;
    return std::unique_ptr<CudaTrainModel>(new CudaTrainModel(std::move(impl)));
}

Status CudaTrainModel::zeroGrads() {
    impl_->normValid = false;
    return cudaCheck(cudaMemsetAsync(impl_->G, 0, size_t(impl_->params) * 4, impl_->stream()),
                     "zeroing the gradients");
}

Expected<double> CudaTrainModel::lossAndGrads(const int32_t* ids, int64_t B, int64_t L,
                                              double gradScale, const float* rowWeights) {
    Impl& m = *impl_;
    if (Status st = m.checkedIds(ids, B, L); !st) return st;
    if (rowWeights != nullptr)
        if (Status st = cudaCheck(cudaMemcpyAsync(m.rowWeights, rowWeights, size_t(B * L) * 4,
                                                  cudaMemcpyHostToDevice, m.stream()),
                                  "uploading the answer weights");
            !st)
            return st;
    if (Status st = m.lossBackward(B, L, gradScale, true, rowWeights != nullptr); !st) return st;
    double sum = 0.0;
    cudaMemcpyAsync(&sum, m.sums, sizeof(double), cudaMemcpyDeviceToHost, m.stream());
    if (Status st = cudaCheck(cudaStreamSynchronize(m.stream()), "the training step"); !st)
        return st;
    m.prof.collect();
    return sum;
}

Expected<double> CudaTrainModel::loss(const int32_t* ids, int64_t B, int64_t L) {
    Impl& m = *impl_;
    if (Status st = m.checkedIds(ids, B, L); !st) return st;
    if (Status st = m.lossBackward(B, L, 1.0, false); !st) return st;
    double sum = 0.0;
    cudaMemcpyAsync(&sum, m.sums, sizeof(double), cudaMemcpyDeviceToHost, m.stream());
    if (Status st = cudaCheck(cudaStreamSynchronize(m.stream()), "the validation forward"); !st)
        return st;
    m.prof.collect(false);
    return sum;
}

Expected<double> CudaTrainModel::gradNorm() {
    Impl& m = *impl_;
    const cudaStream_t s = m.stream();
    m.prof.begin("grad norm", s);
    cudaMemsetAsync(m.sums + 1, 0, sizeof(double), s);
    // The alignment gaps between tensors stay zero, so one pass over the flat buffer.
    if (Status st =
            cudaCheck(cuda::grad_sumsq(m.G, m.params, m.sums + 1, nullptr, s), "the gradient norm");
        !st)
        return st;
    double ss = 0.0;
    m.prof.end(s);
    cudaMemcpyAsync(&ss, m.sums + 1, sizeof(double), cudaMemcpyDeviceToHost, s);
    if (Status st = cudaCheck(cudaStreamSynchronize(s), "the gradient norm"); !st) return st;
    m.prof.collect();
    m.normValid = true;
    return std::sqrt(ss);
}

Status CudaTrainModel::adamwStep(const AdamWConfig& c, double lr, float gradScale) {
    Impl& m = *impl_;
    if (!m.M) return Status::error("CUDA training: AdamW on a model created without moments");
    if (!m.normValid)
        if (auto n = gradNorm(); !n) return n.status();
    m.optStep += 1;
    cuda::AdamWStep a;
    a.lr = lr, a.beta1 = c.beta1, a.beta2 = c.beta2, a.eps = c.eps;
    a.step = m.optStep;
    a.gradFactor = gradScale;
    a.wd = float(c.weightDecay);
    if (m.adamwChunks == 0) {
        std::vector<cuda::AdamWTensor> tensors;
        for (const Slot& t : m.slots) tensors.push_back({t.offset, t.n, !noWeightDecay(t.name)});
        const std::vector<cuda::AdamWChunk> table = cuda::adamw_chunks(tensors, int64_t(1) << 15);
        auto buf = lectern::cuda::DeviceBuffer::alloc(table.size() * sizeof(table[0]),
                                                      "the AdamW chunk table");
        if (!buf) return buf.status();
        m.adamwTable = std::move(*buf);
        if (Status st =
                cudaCheck(cudaMemcpy(m.adamwTable.as<void>(), table.data(),
                                     table.size() * sizeof(table[0]), cudaMemcpyHostToDevice),
                          "uploading the AdamW chunk table");
            !st)
            return st;
        m.adamwChunks = int64_t(table.size());
    }
    m.prof.begin("adamw", m.stream());
    if (Status st =
            cudaCheck(cuda::adamw_step_chunks(a, m.adamwTable.as<cuda::AdamWChunk>(), m.adamwChunks,
                                              m.W, m.G, m.M, m.V, m.sums + 1, m.stream()),
                      "AdamW");
        !st)
        return st;
    m.prof.end(m.stream());
    if (Status st = cudaCheck(cudaStreamSynchronize(m.stream()), "the AdamW update"); !st)
        return st;
    m.prof.collect();
    m.prof.countStep();
    return Status::ok();
}

Status CudaTrainModel::download(model::ModelWeights& w, AdamWState& opt) const {
    if (Status st = downloadWeights(w); !st) return st;
    if (opt.m.layers.size() != size_t(impl_->cfg.nLayer)) opt.m = zerosLike(impl_->cfg);
    if (opt.v.layers.size() != size_t(impl_->cfg.nLayer)) opt.v = zerosLike(impl_->cfg);
    if (!impl_->M) {  // created without moments: nothing was ever accumulated
        opt.m = zerosLike(impl_->cfg), opt.v = zerosLike(impl_->cfg);
    } else {
        if (Status st = impl_->copyParams(impl_->M, opt.m, false); !st) return st;
        if (Status st = impl_->copyParams(impl_->V, opt.v, false); !st) return st;
    }
    opt.step = impl_->optStep;
    return Status::ok();
}

Status CudaTrainModel::downloadWeights(model::ModelWeights& w) const {
    if (w.layers.size() != size_t(impl_->cfg.nLayer)) w = zerosLike(impl_->cfg);
    return impl_->copyParams(impl_->W, w, false);
}

Status CudaTrainModel::downloadGrads(model::ModelWeights& g) const {
    if (g.layers.size() != size_t(impl_->cfg.nLayer)) g = zerosLike(impl_->cfg);
    return impl_->copyParams(impl_->G, g, false);
}

Status CudaTrainModel::uploadGrads(const model::ModelWeights& g) {
    impl_->normValid = false;
    return impl_->copyParams(impl_->G, const_cast<model::ModelWeights&>(g), true);
}

size_t CudaTrainModel::deviceBytes() const {
    return impl_->paramArena.bytes() + impl_->actArena.bytes();
}

Expected<CudaTrainModel::DeviceParam> CudaTrainModel::deviceParam(const std::string& name) const {
    for (const Slot& t : impl_->slots)
        if (t.name == name) return DeviceParam{impl_->W + t.offset, impl_->G + t.offset, t.n};
    return Status::error("CUDA training: no parameter named " + name);
}

void* CudaTrainModel::stream() const {
    return impl_->stream();
}

TrainPrecision CudaTrainModel::precision() const {
    return impl_->precision;
}

}  // namespace lectern::train
