// config.json parsing and checks (see config.h). Every size is bounded so that a hostile
// or mistyped file yields a message, never a huge allocation or a division by zero.
#include "model/config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace lectern::model {
namespace {

using nlohmann::json;

Status fieldError(const std::string& name, const std::string& field, const std::string& what) {
    return Status::error(name + ": field '" + field + "' " + what);
}

// Reads an integer field into `out` if present; `required` makes absence an error.
Status readInt(const json& j, const char* key, int lo, int hi, int& out, const std::string& name,
               bool required = false) {
    auto it = j.find(key);
    if (it == j.end()) return required ? fieldError(name, key, "is missing") : Status::ok();
    if (!it->is_number_integer()) return fieldError(name, key, "must be an integer");
    const int64_t v = it->get<int64_t>();
    if (v < lo || v > hi) {
        return fieldError(name, key,
                          "is " + std::to_string(v) + ", outside [" + std::to_string(lo) + ", " +
                              std::to_string(hi) + "]");
    }
    out = int(v);
    return Status::ok();
}

Status readBool(const json& j, const char* key, bool& out, const std::string& name) {
    auto it = j.find(key);
    if (it == j.end()) return Status::ok();
    if (!it->is_boolean()) return fieldError(name, key, "must be true or false");
    out = it->get<bool>();
    return Status::ok();
}

Status readReal(const json& j, const char* key, double lo, double hi, double& out,
                const std::string& name) {
    auto it = j.find(key);
    if (it == j.end()) return Status::ok();
    if (!it->is_number()) return fieldError(name, key, "must be a number");
    const double v = it->get<double>();
    if (!(v >= lo && v <= hi)) return fieldError(name, key, "is out of range");
    out = v;
    return Status::ok();
}

Status parseSsm(const json& j, Mamba3Config& s, const std::string& name) {
    if (!j.is_object()) return fieldError(name, "ssm_cfg", "must be an object");
    auto layer = j.find("layer");
    const std::string kind = layer == j.end()     ? "Mamba1"
                             : layer->is_string() ? layer->get<std::string>()
                                                  : "?";
    if (kind != "Mamba3") {
        return fieldError(name, "ssm_cfg.layer",
                          "is '" + kind + "': only Mamba3 mixers are supported");
    }
    const std::string n = name + " ssm_cfg";
    Status st;
    if (!(st = readInt(j, "d_state", 2, 512, s.dState, n))) return st;
    if (!(st = readInt(j, "expand", 1, 16, s.expand, n))) return st;
    if (!(st = readInt(j, "headdim", 1, 4096, s.headdim, n))) return st;
    if (!(st = readInt(j, "ngroups", 1, 4096, s.ngroups, n))) return st;
    if (!(st = readReal(j, "rope_fraction", 0.0, 1.0, s.ropeFraction, n))) return st;
    if (!(st = readReal(j, "dt_min", 0.0, 1e6, s.dtMin, n))) return st;
    if (!(st = readReal(j, "dt_max", 0.0, 1e6, s.dtMax, n))) return st;
    if (!(st = readReal(j, "A_floor", 0.0, 1e6, s.aFloor, n))) return st;
    if (!(st = readBool(j, "is_outproj_norm", s.isOutprojNorm, n))) return st;
    if (!(st = readBool(j, "is_mimo", s.isMimo, n))) return st;
    if (!(st = readInt(j, "mimo_rank", 1, 64, s.mimoRank, n))) return st;
    if (!(st = readBool(j, "fuse_pregate_headwise_norm", s.fusePregateHeadwiseNorm, n))) return st;
    if (!(st = readInt(j, "chunk_size", 1, 4096, s.chunkSize, n))) return st;
    if (s.ropeFraction != 0.5 && s.ropeFraction != 1.0)
        return fieldError(n, "rope_fraction", "must be 0.5 or 1.0 (as the official Mamba3)");
    return Status::ok();
}

Status parseTop(const json& j, ModelConfig& c, const std::string& name) {
    Status st;
    if (!(st = readInt(j, "d_model", 1, 65536, c.dModel, name, true))) return st;
    if (!(st = readInt(j, "n_layer", 1, 4096, c.nLayer, name, true))) return st;
    if (!(st = readInt(j, "vocab_size", 1, 1 << 24, c.vocabSize, name, true))) return st;
    if (!(st = readInt(j, "d_intermediate", 0, 1 << 20, c.dIntermediate, name))) return st;
    if (!(st = readInt(j, "pad_vocab_size_multiple", 1, 1 << 16, c.padVocabSizeMultiple, name)))
        return st;
    if (!(st = readBool(j, "rms_norm", c.rmsNorm, name))) return st;
    if (!(st = readBool(j, "residual_in_fp32", c.residualInFp32, name))) return st;
    if (!(st = readBool(j, "fused_add_norm", c.fusedAddNorm, name))) return st;
    if (!(st = readBool(j, "tie_embeddings", c.tieEmbeddings, name))) return st;
    auto attn = j.find("attn_layer_idx");
    if (attn != j.end() && !attn->is_null()) {
        if (!attn->is_array()) return fieldError(name, "attn_layer_idx", "must be a list");
        for (const auto& v : *attn) {
            if (!v.is_number_integer())
                return fieldError(name, "attn_layer_idx", "must hold integers");
            c.attnLayerIdx.push_back(int(v.get<int64_t>()));
        }
    }
    auto ssm = j.find("ssm_cfg");
    if (ssm == j.end())
        return fieldError(name, "ssm_cfg", "is missing (needs \"layer\": \"Mamba3\")");
    return parseSsm(*ssm, c.ssm, name);
}

// Cross-field checks: divisibility and features not yet supported.
Status checkDerived(const ModelConfig& c, const std::string& name) {
    if (!c.attnLayerIdx.empty()) {
        return Status::error(name + ": attn_layer_idx lists " +
                             std::to_string(c.attnLayerIdx.size()) +
                             " attention layer(s); hybrid attention models are not supported yet");
    }
    if (!c.rmsNorm)
        return fieldError(name, "rms_norm", "is false: LayerNorm models are not supported");
    if (c.dInner() % c.ssm.headdim != 0)
        return Status::error(name + ": d_inner " + std::to_string(c.dInner()) +
                             " is not a multiple of headdim " + std::to_string(c.ssm.headdim));
    if (c.nHeads() % c.ssm.ngroups != 0)
        return Status::error(name + ": nheads " + std::to_string(c.nHeads()) +
                             " is not a multiple of ngroups " + std::to_string(c.ssm.ngroups));
    if (c.numRopeAngles() <= 0)
        return Status::error(name + ": d_state too small for any rotary angle");
    if (c.ssm.isMimo && c.ssm.dState % 2 != 0)
        return fieldError(name, "ssm_cfg.d_state", "must be even for MIMO rotary pairing");
    if (c.parameterCount() > (int64_t(1) << 36))
        return Status::error(name + ": the configuration describes over 2^36 parameters");
    return Status::ok();
}

}  // namespace

int ModelConfig::numRopeAngles() const {
    int split = int(ssm.dState * ssm.ropeFraction);
    if (split % 2 != 0) --split;
    return split / 2;
}

int ModelConfig::vocabPadded() const {
    const int m = padVocabSizeMultiple;
    return (vocabSize + m - 1) / m * m;
}

int ModelConfig::mlpHidden() const {
    return dIntermediate == 0 ? 0 : (dIntermediate + 127) / 128 * 128;
}

ops::Mamba3Dims ModelConfig::dims() const {
    ops::Mamba3Dims d;
    d.H = nHeads();
    d.P = ssm.headdim;
    d.N = ssm.dState;
    d.R = rank();
    d.G = ssm.ngroups;
    d.A = numRopeAngles();
    d.mimo = ssm.isMimo;
    d.aFloor = float(ssm.aFloor);
    d.eps = normEps;
    return d;
}

int64_t ModelConfig::parameterCount() const {
    const ops::Mamba3Dims d = dims();
    const int64_t D = dModel, HRN = int64_t(d.H) * d.R * d.N;
    int64_t layer =
        D + d.dInProj() * D + 2 * int64_t(d.H) + 2 * HRN + 2 * int64_t(d.N) + d.dInner() * D;
    if (ssm.isMimo) layer += 3 * int64_t(d.H) * d.R * d.P;
    if (ssm.isOutprojNorm) layer += d.dInner();
    if (mlpHidden() > 0) layer += D + 3 * int64_t(mlpHidden()) * D;
    const int64_t embed = int64_t(vocabPadded()) * D;
    return int64_t(nLayer) * layer + embed + D + (tieEmbeddings ? 0 : embed);
}

int64_t ModelConfig::stateFloatsPerLayer() const {
    const ops::Mamba3Dims d = dims();
    return int64_t(d.H) * d.A + int64_t(d.H) * d.P * d.N + int64_t(d.R) * d.H * d.N +
           int64_t(d.H) * d.P;
}

Expected<ModelConfig> configParse(const std::string& text, const std::string& name) {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return Status::error(name + ": not valid JSON");
    if (!j.is_object()) return Status::error(name + ": the top level must be a JSON object");
    ModelConfig c;
    if (Status st = parseTop(j, c, name); !st) return st;
    if (Status st = checkDerived(c, name); !st) return st;
    return c;
}

Expected<ModelConfig> configLoad(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::error(path + ": cannot open");
    std::ostringstream ss;
    ss << in.rdbuf();
    if (ss.str().size() > (1u << 20))
        return Status::error(path + ": larger than 1 MiB, not a config");
    return configParse(ss.str(), path);
}

}  // namespace lectern::model
