// AdamW, gradient norm and clipping, and the learning-rate schedule (optim/adamw.h).
#include "training/optim/adamw.h"

#include <cmath>
#include <numbers>

#include "training/params.h"

namespace lectern::train {

AdamWState adamwInit(const model::ModelConfig& cfg) {
    return AdamWState{0, zerosLike(cfg), zerosLike(cfg)};
}

void adamw_update(const model::ModelConfig& cfg, const AdamWConfig& c, double lr,
                  model::ModelWeights& w, model::ModelWeights& grads, AdamWState& s) {
    s.step += 1;
    const double bc1 = 1.0 - std::pow(c.beta1, double(s.step));
    const double bc2 = 1.0 - std::pow(c.beta2, double(s.step));
    auto W = namedParams(cfg, w);
    auto G = namedParams(cfg, grads);
    auto M = namedParams(cfg, s.m);
    auto V = namedParams(cfg, s.v);
    for (size_t i = 0; i < W.size(); ++i) {
        const float wd = noWeightDecay(W[i].name) ? 0.0f : float(c.weightDecay);
        float* pw = W[i].data->data();
        const float* pg = G[i].data->data();
        float* pm = M[i].data->data();
        float* pv = V[i].data->data();
        const int64_t n = int64_t(W[i].data->size());
        for (int64_t j = 0; j < n; ++j) {
            pm[j] = float(c.beta1) * pm[j] + float(1.0 - c.beta1) * pg[j];
            pv[j] = float(c.beta2) * pv[j] + float(1.0 - c.beta2) * pg[j] * pg[j];
            const double mh = pm[j] / bc1, vh = pv[j] / bc2;
            pw[j] -= float(lr * (mh / (std::sqrt(vh) + c.eps) + wd * pw[j]));
        }
    }
}

double gradNorm(const model::ModelConfig& cfg, model::ModelWeights& grads) {
    double ss = 0.0;
    for (NamedTensor& t : namedParams(cfg, grads))
        for (float g : *t.data) ss += double(g) * g;
    return std::sqrt(ss);
}

void scaleGrads(const model::ModelConfig& cfg, model::ModelWeights& grads, float factor) {
    for (NamedTensor& t : namedParams(cfg, grads))
        for (float& g : *t.data) g *= factor;
}

bool allFinite(const model::ModelConfig& cfg, model::ModelWeights& w) {
    for (NamedTensor& t : namedParams(cfg, w))
        for (float x : *t.data)
            if (!std::isfinite(x)) return false;
    return true;
}

double lrAt(int64_t step, int64_t warmup, int64_t total, double maxLr, double minLr) {
    if (step < warmup) return maxLr * double(step + 1) / double(warmup);
    if (total <= warmup) return maxLr;
    const double p = std::min(1.0, double(step - warmup) / double(total - warmup));
    return minLr + 0.5 * (maxLr - minLr) * (1.0 + std::cos(std::numbers::pi * p));
}

}  // namespace lectern::train
