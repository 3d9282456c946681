// Building ModelWeights from named tensors, with every name and shape checked.
#include "model/weights.h"

#include <sstream>

namespace lectern::model {
namespace {

std::string shapeString(const std::vector<int64_t>& s) {
    std::ostringstream o;
    o << '[';
    for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
    o << ']';
    return o.str();
}

struct Taker {
    io::TensorMap& map;
    const std::string& source;
    Status status;

    // Moves tensor `name` of shape `shape` into `out` as fp32; records the first error.
    void take(const std::string& name, const std::vector<int64_t>& shape, std::vector<float>& out) {
        if (!status) return;
        auto it = map.find(name);
        if (it == map.end()) {
            status = Status::error(source + ": missing tensor '" + name + "' (expected shape " +
                                   shapeString(shape) + ")");
            return;
        }
        if (it->second.shape != shape) {
            status = Status::error(source + ": tensor '" + name + "' has shape " +
                                   shapeString(it->second.shape) + " but config.json implies " +
                                   shapeString(shape));
            return;
        }
        auto f = it->second.toFloat32();
        if (!f) {
            status = Status::error(source + ": tensor '" + name + "': " + f.error());
            return;
        }
        out = std::move(*f);
        map.erase(it);
    }
};

}  // namespace

std::vector<std::pair<std::string, std::vector<int64_t>>> weightsExpected(const ModelConfig& cfg) {
    const ops::Mamba3Dims d = cfg.dims();
    const int64_t D = cfg.dModel, F = cfg.mlpHidden(), V = cfg.vocabPadded();
    std::vector<std::pair<std::string, std::vector<int64_t>>> e;
    e.push_back({"backbone.embedding.weight", {V, D}});
    for (int i = 0; i < cfg.nLayer; ++i) {
        const std::string p = "backbone.layers." + std::to_string(i) + ".";
        e.push_back({p + "norm.weight", {D}});
        e.push_back({p + "mixer.in_proj.weight", {d.dInProj(), D}});
        e.push_back({p + "mixer.dt_bias", {d.H}});
        e.push_back({p + "mixer.B_bias", {d.H, d.R, d.N}});
        e.push_back({p + "mixer.C_bias", {d.H, d.R, d.N}});
        e.push_back({p + "mixer.B_norm.weight", {d.N}});
        e.push_back({p + "mixer.C_norm.weight", {d.N}});
        e.push_back({p + "mixer.D", {d.H}});
        if (d.mimo) {
            e.push_back({p + "mixer.mimo_x", {d.H, d.R, d.P}});
            e.push_back({p + "mixer.mimo_z", {d.H, d.R, d.P}});
            e.push_back({p + "mixer.mimo_o", {d.H, d.R, d.P}});
        }
        if (cfg.ssm.isOutprojNorm) e.push_back({p + "mixer.norm.weight", {d.dInner()}});
        e.push_back({p + "mixer.out_proj.weight", {D, d.dInner()}});
        if (F > 0) {
            e.push_back({p + "norm2.weight", {D}});
            e.push_back({p + "mlp.fc1.weight", {2 * F, D}});
            e.push_back({p + "mlp.fc2.weight", {D, F}});
        }
    }
    e.push_back({"backbone.norm_f.weight", {D}});
    if (!cfg.tieEmbeddings) e.push_back({"lm_head.weight", {V, D}});
    return e;
}

Expected<ModelWeights> weightsFromTensors(const ModelConfig& cfg, io::TensorMap& tensors,
                                          const std::string& source) {
    const ops::Mamba3Dims d = cfg.dims();
    const int64_t D = cfg.dModel, F = cfg.mlpHidden(), V = cfg.vocabPadded();
    Taker tk{tensors, source, Status::ok()};
    ModelWeights w;
    tk.take("backbone.embedding.weight", {V, D}, w.embedding);
    w.layers.resize(size_t(cfg.nLayer));
    for (int i = 0; i < cfg.nLayer && tk.status; ++i) {
        LayerWeights& L = w.layers[size_t(i)];
        const std::string p = "backbone.layers." + std::to_string(i) + ".";
        tk.take(p + "norm.weight", {D}, L.norm);
        tk.take(p + "mixer.in_proj.weight", {d.dInProj(), D}, L.inProj);
        tk.take(p + "mixer.dt_bias", {d.H}, L.dtBias);
        tk.take(p + "mixer.B_bias", {d.H, d.R, d.N}, L.bBias);
        tk.take(p + "mixer.C_bias", {d.H, d.R, d.N}, L.cBias);
        tk.take(p + "mixer.B_norm.weight", {d.N}, L.bNorm);
        tk.take(p + "mixer.C_norm.weight", {d.N}, L.cNorm);
        tk.take(p + "mixer.D", {d.H}, L.D);
        if (d.mimo) {
            tk.take(p + "mixer.mimo_x", {d.H, d.R, d.P}, L.mimoX);
            tk.take(p + "mixer.mimo_z", {d.H, d.R, d.P}, L.mimoZ);
            tk.take(p + "mixer.mimo_o", {d.H, d.R, d.P}, L.mimoO);
        }
        if (cfg.ssm.isOutprojNorm) tk.take(p + "mixer.norm.weight", {d.dInner()}, L.outNorm);
        tk.take(p + "mixer.out_proj.weight", {D, d.dInner()}, L.outProj);
        if (F > 0) {
            tk.take(p + "norm2.weight", {D}, L.norm2);
            tk.take(p + "mlp.fc1.weight", {2 * F, D}, L.fc1);
            tk.take(p + "mlp.fc2.weight", {D, F}, L.fc2);
        }
    }
    tk.take("backbone.norm_f.weight", {D}, w.normF);
    if (!cfg.tieEmbeddings) {
        tk.take("lm_head.weight", {V, D}, w.lmHead);
    } else if (tk.status && tensors.count("lm_head.weight")) {
        std::vector<float> dup;  // the tied copy the official .bin stores: check, then drop
        tk.take("lm_head.weight", {V, D}, dup);
    }
    if (!tk.status) return tk.status;
    if (!tensors.empty()) {
        return Status::error(source + ": unexpected tensor '" + tensors.begin()->first + "'" +
                             (tensors.size() > 1
                                  ? " (and " + std::to_string(tensors.size() - 1) + " more)"
                                  : std::string()) +
                             " that config.json does not describe");
    }
    return w;
}

}  // namespace lectern::model
