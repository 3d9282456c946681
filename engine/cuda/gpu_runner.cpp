// GpuRunner: a Session's pieces on the GPU, its state resident there between calls.
#include "cuda/gpu_runner.h"

#include <cuda_runtime.h>

#include <algorithm>

namespace lectern::cuda {

ResidentState::~ResidentState() {
    if (auto o = owner.lock()) o->forget(states);
}

Expected<std::shared_ptr<GpuRunner>> GpuRunner::create(const model::ModelConfig& cfg,
                                                       const model::ModelWeights& w, int device,
                                                       Precision precision) {
    CudaOptions opt;
    opt.device = device;
    opt.precision = precision;
    auto m = CudaModel::create(cfg, w, opt);
    if (!m) return m.status();
    auto st = (*m)->newStates(1);
    if (!st) return st.status();
    auto r = std::make_shared<GpuRunner>();
    r->model_ = std::move(*m);
    r->states_ = std::move(*st);
    auto pick = DeviceBuffer::alloc(sizeof(int32_t), "the sampled token id");
    if (!pick) return pick.status();
    r->pick_ = std::move(*pick);
    return r;
}

bool GpuRunner::faulted() const {
    return noteDeviceError(cudaStreamQuery(model_->context().stream()));
}

Status GpuRunner::forward(DocumentState& state, const int32_t* ids, int64_t T, ScanForm form,
                          float* allLogits, float* lastLogits,
                          std::vector<std::vector<float>>* hidden) {
    if (Status f = deviceFaultStatus(); !f) return f;
    std::lock_guard<std::mutex> lock(mu_);
    if (Status s = model_->upload(state, states_, 0); !s) return s;
    Status s;
    if (T == 1 && form == ScanForm::Recurrent && !allLogits && !hidden) {
        s = model_->decodeStep(states_, ids, lastLogits);
    } else {
        s = model_->forward(states_, ids, T, form, lastLogits, allLogits, hidden);
        if (s && allLogits && lastLogits) {
            const int64_t V = model_->config().vocabPadded();
            std::copy_n(allLogits + (T - 1) * V, V, lastLogits);
        }
    }
    if (!s) return s;  // the host state is untouched: the piece can be retried on the CPU
    return model_->download(states_, 0, state);
}

Expected<std::shared_ptr<ResidentState>> GpuRunner::newResident() {
    if (Status f = deviceFaultStatus(); !f) return f;
    const size_t V = size_t(model_->config().vocabPadded());
    std::lock_guard<std::mutex> lock(mu_);
    auto st = model_->newStates(1);
    if (!st) return st.status();
    auto lg = DeviceBuffer::alloc(V * 4, "a session's last logits");
    if (!lg) return lg.status();
    auto r = std::make_shared<ResidentState>();
    r->states = std::move(*st);
    r->logits = std::move(*lg);
    r->owner = weak_from_this();
    return r;
}

Status GpuRunner::upload(const DocumentState& state, const std::vector<float>& logits,
                         ResidentState& dev) {
    if (Status f = deviceFaultStatus(); !f) return f;
    const size_t V = size_t(model_->config().vocabPadded());
    std::lock_guard<std::mutex> lock(mu_);
    if (Status s = model_->upload(state, dev.states, 0); !s) return s;
    if (logits.size() != V) return Status::ok();
    return cudaCheck(
        cudaMemcpy(dev.logits.as<float>(), logits.data(), V * 4, cudaMemcpyHostToDevice),
        "uploading a session's logits");
}

Status GpuRunner::download(const ResidentState& dev, DocumentState* state, float* logits) {
    if (Status f = deviceFaultStatus(); !f) return f;
    const size_t V = size_t(model_->config().vocabPadded());
    std::lock_guard<std::mutex> lock(mu_);
    if (state)
        if (Status s = model_->download(dev.states, 0, *state); !s) return s;
    if (!logits) return Status::ok();
    return cudaCheck(cudaMemcpy(logits, dev.logits.as<float>(), V * 4, cudaMemcpyDeviceToHost),
                     "downloading a session's logits");
}

Expected<std::shared_ptr<ResidentState>> GpuRunner::clone(const ResidentState& from) {
    if (Status f = deviceFaultStatus(); !f) return f;
    auto r = newResident();
    if (!r) return r.status();
    std::lock_guard<std::mutex> lock(mu_);
    ResidentState& to = **r;
    to.states.position = from.states.position;
    const cudaStream_t s = model_->context().stream();
    cudaMemcpyAsync(to.states.buf.as<void>(), from.states.buf.as<void>(), from.states.buf.bytes(),
                    cudaMemcpyDeviceToDevice, s);
    cudaMemcpyAsync(to.logits.as<void>(), from.logits.as<void>(), from.logits.bytes(),
                    cudaMemcpyDeviceToDevice, s);
    if (Status e = cudaCheck(cudaStreamSynchronize(s), "copying a session's state on the GPU"); !e)
        return e;
    return r;
}

Status GpuRunner::run(ResidentState& dev, const int32_t* ids, int64_t T, ScanForm form,
                      float* allLogits, std::vector<std::vector<float>>* hidden) {
    if (Status f = deviceFaultStatus(); !f) return f;
    if (T <= 0) return Status::ok();
    std::lock_guard<std::mutex> lock(mu_);
    Status s;
    if (T == 1 && form == ScanForm::Recurrent && !allLogits && !hidden)
        s = model_->decodeStep(dev.states, ids, nullptr);
    else
        s = model_->forward(dev.states, ids, T, form, nullptr, allLogits, hidden);
    if (!s) return s;
    // The model's logits scratch is shared by every session: keep this one's.
    const size_t V = size_t(model_->config().vocabPadded());
    const cudaStream_t st = model_->context().stream();
    cudaMemcpyAsync(dev.logits.as<float>(), model_->lastLogitsDevice(), V * 4,
                    cudaMemcpyDeviceToDevice, st);
    return cudaCheck(cudaStreamSynchronize(st), "keeping a session's logits on the GPU");
}

Expected<int32_t> GpuRunner::argmax(const ResidentState& dev, int n) {
    if (Status f = deviceFaultStatus(); !f) return f;
    std::lock_guard<std::mutex> lock(mu_);
    const cudaStream_t st = model_->context().stream();
    n = std::min(n, model_->config().vocabPadded());
    argmax_first_forward(dev.logits.as<float>(), n, pick_.as<int32_t>(), st);
    int32_t id = 0;
    cudaMemcpyAsync(&id, pick_.as<int32_t>(), sizeof id, cudaMemcpyDeviceToHost, st);
    if (Status e = cudaCheck(cudaStreamSynchronize(st), "greedy decoding on the GPU"); !e) return e;
    return id;
}

Expected<int32_t> GpuRunner::sample(const ResidentState& dev, int n, const GpuSampling& o,
                                    double u) {
    if (Status f = deviceFaultStatus(); !f) return f;
    std::lock_guard<std::mutex> lock(mu_);
    const cudaStream_t st = model_->context().stream();
    n = std::min(n, model_->config().vocabPadded());
    if (n <= 0) return Status::error("sampling on the GPU: no logits");
    // The sampler's probabilities (n doubles), allocated on the first sampled token.
    if (sampleScratch_.bytes() < size_t(n) * sizeof(double)) {
        auto b = DeviceBuffer::alloc(size_t(n) * sizeof(double), "the sampler's probabilities");
        if (!b) return b.status();
        sampleScratch_ = std::move(*b);
    }
    sample_forward(dev.logits.as<float>(), n, o, u, sampleScratch_.as<double>(),
                   pick_.as<int32_t>(), st);
    int32_t id = 0;
    cudaMemcpyAsync(&id, pick_.as<int32_t>(), sizeof id, cudaMemcpyDeviceToHost, st);
    if (Status e = cudaCheck(cudaStreamSynchronize(st), "sampling on the GPU"); !e) return e;
    return id;
}

void GpuRunner::forget(const DeviceStates& st) {
    std::lock_guard<std::mutex> lock(mu_);
    model_->forgetStates(st);
}

}  // namespace lectern::cuda
