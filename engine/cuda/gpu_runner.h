// The GPU behind the public Session API (Model::load with DeviceKind::Cuda or Auto): one
// CudaModel and a one-document device state. Each call uploads the DocumentState, runs the
// piece on the GPU (decode steps through the captured graph) and downloads the state back,
// so a Session's state is always valid on the host (fork, save, continue on the CPU).
// That costs two state copies per call; long-lived GPU-resident documents use CudaModel
// and DeviceStates directly. Calls are serialised (one scratch per model).
#pragma once

#include <memory>
#include <mutex>

#include "cuda/cuda_model.h"

namespace lectern::cuda {

class GpuRunner {
public:
    static Expected<std::shared_ptr<GpuRunner>> create(const model::ModelConfig& cfg,
                                                       const model::ModelWeights& w, int device);
    // As ModelImpl::forward, with errors as values.
    Status forward(DocumentState& state, const int32_t* ids, int64_t T, ScanForm form,
                   float* allLogits, float* lastLogits, std::vector<std::vector<float>>* hidden);

private:
    std::unique_ptr<CudaModel> model_;
    DeviceStates states_;
    std::mutex mu_;
};

}  // namespace lectern::cuda
