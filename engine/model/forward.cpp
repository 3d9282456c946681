// The whole model over one piece of tokens: embedding, blocks of fused add+RMSNorm,
// Mamba-3 mixer and optional gated MLP, then the final norm and the LM head. The residual
// stream is fp32 (residual_in_fp32).
#include <algorithm>

#include "cpu/thread_budget.h"
#include "model/model_impl.h"
#include "ops/add_rmsnorm.h"
#include "ops/embedding.h"
#include "ops/gated_mlp.h"
#include "ops/lm_head.h"

namespace lectern::detail {

StateShape ModelImpl::stateShape() const {
    const ops::Mamba3Dims d = cfg.dims();
    return StateShape{cfg.nLayer, d.H, d.P, d.N, d.R, d.A};
}

int64_t ModelImpl::scratchBytes(int64_t T) const {
    const int64_t D = cfg.dModel, F = cfg.mlpHidden();
    return 4 * (3 * T * D + 2 * T * F + mamba3_mixer_scratch_floats(cfg, T));
}

void ModelImpl::reserveScratch(SessionScratch& s, int64_t T) const {
    const int64_t D = cfg.dModel, F = cfg.mlpHidden();
    for (std::vector<float>* v : {&s.residual, &s.normed, &s.delta})
        if (int64_t(v->size()) < T * D) v->resize(size_t(T * D));
    if (F > 0 && int64_t(s.mlp.size()) < T * 2 * F) s.mlp.resize(size_t(T * 2 * F));
    mamba3_mixer_reserve(cfg, s, T);
}

void ModelImpl::forward(DocumentState& state, const int32_t* ids, int64_t T, ScanForm form,
                        SessionScratch& s, float* allLogits, float* lastLogits,
                        std::vector<std::vector<float>>* hidden) const {
    const int64_t D = cfg.dModel, V = cfg.vocabPadded(), F = cfg.mlpHidden();
    const float eps = cfg.normEps;
    cpu::thread_budget_apply();  // CPU backend: use only the cores that are free now
    s.residual.resize(size_t(T * D));
    s.normed.resize(size_t(T * D));
    s.delta.resize(size_t(T * D));
    if (F > 0 && int64_t(s.mlp.size()) < T * 2 * F) s.mlp.resize(size_t(T * 2 * F));
    cpu::embedding_forward(s.residual.data(), ids, T, w.embedding.data(), D);

    // Fused add + norm: each norm first adds the previous sub-block's output (delta).
    const float* pending = nullptr;
    for (int i = 0; i < cfg.nLayer; ++i) {
        const model::LayerWeights& L = w.layers[size_t(i)];
        cpu::add_rmsnorm_forward(s.normed.data(), s.residual.data(), pending, L.norm.data(), T, D,
                                 eps);
        if (hidden && i > 0) hidden->emplace_back(s.residual.begin(), s.residual.end());
        mamba3_mixer_forward(cfg, L, form, s.normed.data(), T, state.layers()[size_t(i)], s,
                             s.delta.data());
        if (F > 0) {
            cpu::add_rmsnorm_forward(s.normed.data(), s.residual.data(), s.delta.data(),
                                     L.norm2.data(), T, D, eps);
            cpu::gated_mlp_forward(s.delta.data(), s.normed.data(), L.fc1.data(), L.fc2.data(),
                                   s.mlp.data(), T, D, F);
        }
        pending = s.delta.data();
    }
    cpu::add_rmsnorm_forward(s.normed.data(), s.residual.data(), pending, w.normF.data(), T, D,
                             eps);
    if (hidden) hidden->emplace_back(s.residual.begin(), s.residual.end());
    if (allLogits != nullptr) {
        cpu::lm_head_forward(allLogits, s.normed.data(), w.lmHeadData(), T, D, V);
        if (lastLogits != nullptr) std::copy_n(allLogits + (T - 1) * V, V, lastLogits);
    } else if (lastLogits != nullptr) {
        cpu::lm_head_forward(lastLogits, s.normed.data() + (T - 1) * D, w.lmHeadData(), 1, D, V);
    }
    state.setPosition(state.position() + T);
}

}  // namespace lectern::detail
