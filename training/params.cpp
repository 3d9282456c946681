// Named views of ModelWeights (training/params.h), zeroing, weight-decay exemptions and
// the from-scratch initialisation.
#include "training/params.h"

#include <cmath>
#include <random>

namespace lectern::train {
namespace {

// The member of one layer that an official per-layer name suffix refers to.
std::vector<float>* layerField(model::LayerWeights& L, const std::string& s) {
    if (s == "norm.weight") return &L.norm;
    if (s == "mixer.in_proj.weight") return &L.inProj;
    if (s == "mixer.dt_bias") return &L.dtBias;
    if (s == "mixer.B_bias") return &L.bBias;
    if (s == "mixer.C_bias") return &L.cBias;
    if (s == "mixer.B_norm.weight") return &L.bNorm;
    if (s == "mixer.C_norm.weight") return &L.cNorm;
    if (s == "mixer.D") return &L.D;
    if (s == "mixer.mimo_x") return &L.mimoX;
    if (s == "mixer.mimo_z") return &L.mimoZ;
    if (s == "mixer.mimo_o") return &L.mimoO;
    if (s == "mixer.norm.weight") return &L.outNorm;
    if (s == "mixer.out_proj.weight") return &L.outProj;
    if (s == "norm2.weight") return &L.norm2;
    if (s == "mlp.fc1.weight") return &L.fc1;
    if (s == "mlp.fc2.weight") return &L.fc2;
    return nullptr;
}

std::vector<float>* field(model::ModelWeights& w, const std::string& name) {
    if (name == "backbone.embedding.weight") return &w.embedding;
    if (name == "backbone.norm_f.weight") return &w.normF;
    if (name == "lm_head.weight") return &w.lmHead;
    const std::string pre = "backbone.layers.";
    const size_t dot = name.find('.', pre.size());
    const size_t i = std::stoul(name.substr(pre.size(), dot - pre.size()));
    if (w.layers.size() <= i) w.layers.resize(i + 1);
    return layerField(w.layers[i], name.substr(dot + 1));
}

int64_t numel(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
}

}  // namespace

std::vector<NamedTensor> namedParams(const model::ModelConfig& cfg, model::ModelWeights& w) {
    std::vector<NamedTensor> out;
    for (auto& [name, shape] : model::weightsExpected(cfg))
        out.push_back({name, shape, field(w, name)});
    return out;
}

model::ModelWeights zerosLike(const model::ModelConfig& cfg) {
    model::ModelWeights g;
    g.layers.resize(size_t(cfg.nLayer));
    for (NamedTensor& t : namedParams(cfg, g)) t.data->assign(size_t(numel(t.shape)), 0.0f);
    return g;
}

void zero_grad(const model::ModelConfig& cfg, model::ModelWeights& g) {
    for (NamedTensor& t : namedParams(cfg, g)) std::fill(t.data->begin(), t.data->end(), 0.0f);
}

bool noWeightDecay(const std::string& name) {
    auto ends = [&](const std::string& s) {
        return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    return ends("dt_bias") || ends(".D") || ends("_bias") || name.find("norm") != std::string::npos;
}

io::TensorMap toTensorMap(const model::ModelConfig& cfg, model::ModelWeights& w,
                          const std::string& prefix) {
    io::TensorMap m;
    for (NamedTensor& t : namedParams(cfg, w))
        m[prefix + t.name] = io::RawTensor::fromFloat32(*t.data, t.shape);
    return m;
}

model::ModelWeights initWeights(const model::ModelConfig& cfg, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<double> uni(0.0, 1.0);
    model::ModelWeights w = zerosLike(cfg);
    const float resid = 0.02f / std::sqrt(2.0f * float(cfg.nLayer));
    const float R = float(cfg.rank());
    for (NamedTensor& t : namedParams(cfg, w)) {
        const std::string& n = t.name;
        auto fill = [&](float v) { std::fill(t.data->begin(), t.data->end(), v); };
        if (n.find("norm") != std::string::npos || n.ends_with("_bias") || n.ends_with(".D") ||
            n.ends_with("mimo_z")) {
            fill(1.0f);
        } else if (n.ends_with("mimo_x") || n.ends_with("mimo_o")) {
            fill(1.0f / R);
        } else {
            const float sd =
                n.ends_with("out_proj.weight") || n.ends_with("fc2.weight") ? resid : 0.02f;
            for (float& v : *t.data) v = sd * normal(rng);
        }
        if (n.ends_with("dt_bias")) {
            const double lo = std::log(cfg.ssm.dtMin), hi = std::log(cfg.ssm.dtMax);
            for (float& v : *t.data) {
                const double dt = std::max(std::exp(lo + (hi - lo) * uni(rng)), 1e-4);
                v = float(dt + std::log(-std::expm1(-dt)));  // softplus⁻¹(dt)
            }
        }
    }
    return w;
}

}  // namespace lectern::train
