// The GPU training step (issue 5): the CUDA twin of training/model_train.h plus the
// optimizer. The fp32 weights are uploaded once; activations, gradients and the AdamW
// moments live on the device; the host sees a loss and a gradient norm per step, and the
// weights only when it asks (checkpoints, the end). Same maths as the CPU path: the
// engine's CUDA forward kernels (engine/cuda/cuda_ops.h), the scan's forward with
// checkpoints and its recomputing backward (scan_backward_cuda.h), every other op's
// backward, cross-entropy, the global norm and AdamW (ops_backward_cuda.h).
// No CUDA types here: trainer.cpp includes it as plain C++.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lectern/status.h"
#include "model/config.h"
#include "model/weights.h"
#include "training/model_io.h"
#include "training/optim/adamw.h"

namespace lectern::train {

// How the step multiplies (`lectern-cli train --precision`). Fp32: exact sgemm everywhere (the
// golden and CPU comparisons). Tf32: the projections and the LM head on the tensor cores on
// fp32 data. Bf16: those GEMMs on bf16 copies of the weights, made from the fp32 masters at
// the start of every forward (once a step: after AdamW, and after a LoRA merge), with the
// activations and the gradients entering them rounded to bf16 and fp32 accumulation (an
// MLP's backward: TF32); the logits' gradient kept in bf16 only; the scan forward on the
// engine's tensor-core chunked kernels. Gradients, the norm, AdamW and the masters stay fp32
// in every mode.
// Default: Tf32 when LECTERN_TRAIN_TF32 is set (and not "0"), else Fp32.
enum class TrainPrecision { Default, Fp32, Tf32, Bf16 };
// "fp32", "tf32", "bf16", or "" (Default); anything else is an error naming the choices.
Expected<TrainPrecision> parseTrainPrecision(const std::string& name);
const char* trainPrecisionName(TrainPrecision p);  // Default resolved: "fp32", "tf32" or "bf16"

class CudaTrainModel {
public:
    // Uploads w and opt (moments and step count) to GPU `device`, and sizes the activations
    // for batches of up to maxBatch rows of maxLen tokens. Errors (no GPU, out of memory
    // with the bytes asked for, unsupported shapes) come back as a Status. withMoments
    // false leaves out the AdamW moments (8 bytes a parameter) for callers that never
    // update these weights (gradients only; a LoRA run, whose adapters have their own):
    // adamwStep then refuses and download gives zero moments.
    static Expected<std::unique_ptr<CudaTrainModel>> create(
        const model::ModelConfig& cfg, const model::ModelWeights& w, const AdamWState& opt,
        int64_t maxBatch, int64_t maxLen, int device = 0, bool withMoments = true,
        TrainPrecision precision = TrainPrecision::Default);
    ~CudaTrainModel();
    CudaTrainModel(const CudaTrainModel&) = delete;
    CudaTrainModel& operator=(const CudaTrainModel&) = delete;

    Status zeroGrads();
    // B rows of L tokens ([B, L] row-major, host memory), each from a fresh state. Returns
    // the SUM of the B·(L−1) per-position losses and adds gradScale × its gradient into
    // the device gradients (loss_and_grads's contract). rowWeights [B, L] (host, optional;
    // nullptr: all 1): each position's gradient is scaled by its weight too, copied to the
    // device with the ids; the returned sum stays unweighted.
    Expected<double> lossAndGrads(const int32_t* ids, int64_t B, int64_t L, double gradScale,
                                  const float* rowWeights = nullptr);
    // The same sum, a forward only (validation).
    Expected<double> loss(const int32_t* ids, int64_t B, int64_t L);
    // The L2 norm of all gradients together (non-finite if any entry is).
    Expected<double> gradNorm();
    // Gradients × gradScale (clipping), then one AdamW update with learning rate lr (same
    // exemptions from weight decay as adamw_update).
    Status adamwStep(const AdamWConfig& c, double lr, float gradScale);

    // The device's weights and moments into host structures shaped by the config.
    Status download(model::ModelWeights& w, AdamWState& opt) const;
    Status downloadWeights(model::ModelWeights& w) const;
    Status downloadGrads(model::ModelWeights& g) const;
    Status uploadGrads(const model::ModelWeights& g);
    // Device bytes this model holds (weights, moments, gradients, activations, scratch).
    size_t deviceBytes() const;

    // One parameter's device weights and gradients (fp32, n floats each), by its namedParams
    // name, for code that trains something on top of this step (LoRA adapters). stream is
    // the cudaStream_t every step runs on.
    struct DeviceParam {
        float* weight = nullptr;
        float* grad = nullptr;
        int64_t n = 0;
    };
    Expected<DeviceParam> deviceParam(const std::string& name) const;
    void* stream() const;
    TrainPrecision precision() const;  // never Default

    struct Impl;

private:
    explicit CudaTrainModel(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// computeGrads (model_io.h) on the GPU: the golden file's loss and gradients for ids [B, L].
Expected<GradsResult> computeGradsCuda(TrainModel& m, const std::vector<int32_t>& ids, int64_t B,
                                       int64_t L);

}  // namespace lectern::train
