// AdamW, gradient norm and clipping, and the learning-rate schedule (optim/adamw.h).
#include "training/optim/adamw.h"

#include <algorithm>
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
    auto W = namedParams(cfg, w);
    auto G = namedParams(cfg, grads);
    auto M = namedParams(cfg, s.m);
    auto V = namedParams(cfg, s.v);
    for (size_t i = 0; i < W.size(); ++i) {
        const float wd = noWeightDecay(W[i].name) ? 0.0f : float(c.weightDecay);
        adamw_tensor(c, lr, wd, s.step, W[i].data->data(), G[i].data->data(), M[i].data->data(),
                     V[i].data->data(), int64_t(W[i].data->size()));
    }
}

void adamw_tensor(const AdamWConfig& c, double lr, float wd, int64_t step, float* pw,
                  const float* pg, float* pm, float* pv, int64_t n) {
    const double bc1 = 1.0 - std::pow(c.beta1, double(step));
    const double bc2 = 1.0 - std::pow(c.beta2, double(step));
    for (int64_t j = 0; j < n; ++j) {
        pm[j] = float(c.beta1) * pm[j] + float(1.0 - c.beta1) * pg[j];
        pv[j] = float(c.beta2) * pv[j] + float(1.0 - c.beta2) * pg[j] * pg[j];
        const double mh = pm[j] / bc1, vh = pv[j] / bc2;
        pw[j] -= float(lr * (mh / (std::sqrt(vh) + c.eps) + wd * pw[j]));
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

double lrWsd(int64_t step, int64_t warmup, int64_t total, double decayFraction, double maxLr,
             double minLr) {
    if (step < warmup) return maxLr * double(step + 1) / double(warmup);
    const double decaySteps = std::clamp(decayFraction, 0.0, 1.0) * double(total);
    const double decayStart = std::max(double(warmup), double(total) - decaySteps);
    if (double(step) < decayStart || double(total) <= decayStart) return maxLr;
    const double p = std::min(1.0, (double(step) - decayStart) / (double(total) - decayStart));
    return maxLr + (minLr - maxLr) * p;
}

}  // namespace lectern::train
