// LoRA adapters trained on the GPU (issue 5), on top of CudaTrainModel's full step, with
// the maths of training/lora/lora.h: the model's device weight of every target is kept
// merged, W' = W_base + s·B·A (a device copy of W_base stays here); the full backward's
// gradient dW' gives dB = s·dW'·Aᵀ and dA = s·Bᵀ·dW' (two cuBLAS GEMMs per target); the
// global norm, clipping and AdamW (loraAdamw's maths: decay on A and B) run over the
// adapters only. A, B, their gradients and moments live on the device; the host sees the
// norm each step and the adapters when it asks (checkpoints, the end).
// NUM-4: AdamW reads the adapters' sum of squares on the device and leaves everything
// untouched when it is not finite, even if the caller forgets to skip the step.
// No CUDA types here: trainer.cpp includes it as plain C++.
#pragma once

#include <memory>

#include "lectern/status.h"
#include "training/cuda/model_train_cuda.h"
#include "training/lora/lora.h"
#include "training/optim/adamw.h"

namespace lectern::train {

class CudaLora {
public:
    // Uploads a's adapters, moments and step, copies each target's weight from m (which must
    // hold the BASE weights now) as the base, then merges. m must outlive this object.
    static Expected<std::unique_ptr<CudaLora>> create(CudaTrainModel& m, const LoraAdapters& a);
    ~CudaLora();
    CudaLora(const CudaLora&) = delete;
    CudaLora& operator=(const CudaLora&) = delete;

    // Every target's weight in m := W_base + s·B·A.
    Status merge();
    // dA, dB of every target from m's current gradients, and their global L2 norm
    // (non-finite if any entry is).
    Expected<double> gradNorm();
    // Gradients × gradScale (clipping), one AdamW update of A and B, then merge().
    Status adamwStep(const AdamWConfig& c, double lr, float gradScale);

    // A, B, the moments and the step into a (shaped as created); with grads also gA, gB.
    Status download(LoraAdapters& a, bool grads = false) const;
    size_t deviceBytes() const;

    struct Impl;

private:
    explicit CudaLora(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace lectern::train
