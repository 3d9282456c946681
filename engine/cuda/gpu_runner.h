// The GPU behind the public Session API (Model::load with DeviceKind::Cuda or Auto): one
// CudaModel shared by every Session of a Model. Each Session keeps its state and last
// logits resident on the device between calls (a ResidentState, issue 4): prefill and
// decode copy only token ids in and nothing out; the host DocumentState is synced lazily
// (download) when it is read, and uploaded again only after the host copy changed. Where a
// session's device state cannot be allocated, forward() round-trips the state through one
// shared device state instead. Calls are serialised (one scratch per model).
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "cuda/cuda_model.h"

namespace lectern::cuda {

class GpuRunner;

// One document's state and last logits on the device; frees its decode graph with itself.
struct ResidentState {
    ~ResidentState();
    DeviceStates states;  // batch 1
    DeviceBuffer logits;  // [V_pad]: the last token's logits
    std::weak_ptr<GpuRunner> owner;
};

class GpuRunner : public std::enable_shared_from_this<GpuRunner> {
public:
    static Expected<std::shared_ptr<GpuRunner>> create(const model::ModelConfig& cfg,
                                                       const model::ModelWeights& w, int device,
                                                       Precision precision = Precision::Bf16);
    // RELIABILITY GPU-3: true once a kernel fault has disabled the CUDA backend
    // (cuda_context.h). Asks the stream too: a fault can first show as a plain launch error.
    // Every call below refuses with the fault's message from then on.
    bool faulted() const;

    // As ModelImpl::forward, with errors as values; the state round-trips through the host.
    Status forward(DocumentState& state, const int32_t* ids, int64_t T, ScanForm form,
                   float* allLogits, float* lastLogits, std::vector<std::vector<float>>* hidden);

    // A zeroed device state for one document (an error if the GPU memory is short).
    Expected<std::shared_ptr<ResidentState>> newResident();
    // Host -> device: the state, and the logits if `logits` holds V_pad of them.
    Status upload(const DocumentState& state, const std::vector<float>& logits, ResidentState& dev);
    // Device -> host: the state (if non-null) and the logits (if non-null, sized V_pad).
    Status download(const ResidentState& dev, DocumentState* state, float* logits);
    // Device -> device (fork): a new resident state equal to `from`.
    Expected<std::shared_ptr<ResidentState>> clone(const ResidentState& from);
    // Reads ids into `dev` on the device; the last logits stay there (dev.logits).
    // allLogits / hidden as in forward() (host outputs).
    Status run(ResidentState& dev, const int32_t* ids, int64_t T, ScanForm form, float* allLogits,
               std::vector<std::vector<float>>* hidden);
    // Greedy decoding on the device: the first largest of dev.logits[0, n); only the id
    // comes back (kernels/sampling.cu).
    Expected<int32_t> argmax(const ResidentState& dev, int n);
    // Sampling on the device (temperature, top-k, top-p, min-p; kernels/sampling.cu) for a
    // uniform draw u made on the host: the id generate::drawToken(samplingDistribution(
    // logits[0, n)), u) picks (no repetition penalty); only the id comes back.
    Expected<int32_t> sample(const ResidentState& dev, int n, const GpuSampling& o, double u);

private:
    friend struct ResidentState;
    void forget(const DeviceStates& st);  // drops the decode graph captured for st

    std::unique_ptr<CudaModel> model_;
    DeviceStates states_;         // forward()'s round-trip state
    DeviceBuffer pick_;           // argmax()'s and sample()'s one id
    DeviceBuffer sampleScratch_;  // sample()'s probabilities
    std::mutex mu_;
};

}  // namespace lectern::cuda
