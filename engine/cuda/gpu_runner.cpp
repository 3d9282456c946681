// GpuRunner: a Session's pieces on the GPU, the state round-tripping through the host.
#include "cuda/gpu_runner.h"

namespace lectern::cuda {

Expected<std::shared_ptr<GpuRunner>> GpuRunner::create(const model::ModelConfig& cfg,
                                                       const model::ModelWeights& w, int device) {
    CudaOptions opt;
    opt.device = device;
    auto m = CudaModel::create(cfg, w, opt);
    if (!m) return m.status();
    auto st = (*m)->newStates(1);
    if (!st) return st.status();
    auto r = std::make_shared<GpuRunner>();
    r->model_ = std::move(*m);
    r->states_ = std::move(*st);
    return r;
}

Status GpuRunner::forward(DocumentState& state, const int32_t* ids, int64_t T, ScanForm form,
                          float* allLogits, float* lastLogits,
                          std::vector<std::vector<float>>* hidden) {
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

}  // namespace lectern::cuda
