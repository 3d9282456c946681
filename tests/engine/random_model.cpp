// Random Mamba-3 models (see random_model.h).
#include "random_model.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "io/safetensors.h"
#include "model/config.h"
#include "model/weights.h"

namespace lectern::test {

std::string RandomModelSpec::describe() const {
    std::ostringstream o;
    o << (mimoRank ? "MIMO r" + std::to_string(mimoRank) : std::string("SISO")) << " D=" << dModel
      << " layers=" << nLayer << " V=" << vocab << " N=" << dState << " P=" << headdim
      << " G=" << ngroups << " rope=" << ropeFraction << " chunk=" << chunk
      << " norm=" << outprojNorm << " mlp=" << dIntermediate << " tied=" << tied;
    return o.str();
}

std::string randomConfigJson(const RandomModelSpec& s) {
    std::ostringstream o;
    o << "{\"d_model\": " << s.dModel << ", \"d_intermediate\": " << s.dIntermediate
      << ", \"n_layer\": " << s.nLayer << ", \"vocab_size\": " << s.vocab
      << ", \"ssm_cfg\": {\"layer\": \"Mamba3\", \"d_state\": " << s.dState
      << ", \"headdim\": " << s.headdim << ", \"expand\": " << s.expand
      << ", \"ngroups\": " << s.ngroups << ", \"rope_fraction\": " << s.ropeFraction
      << ", \"chunk_size\": " << s.chunk
      << ", \"is_outproj_norm\": " << (s.outprojNorm ? "true" : "false")
      << ", \"is_mimo\": " << (s.mimoRank ? "true" : "false")
      << ", \"mimo_rank\": " << (s.mimoRank ? s.mimoRank : 4) << "}"
      << ", \"attn_layer_idx\": [], \"attn_cfg\": {}, \"rms_norm\": true"
      << ", \"residual_in_fp32\": true, \"fused_add_norm\": true"
      << ", \"pad_vocab_size_multiple\": 8, \"tie_embeddings\": " << (s.tied ? "true" : "false")
      << "}";
    return o.str();
}

namespace {

// Values for one tensor by its role, at scales like the official init plus perturbation.
std::vector<float> draw(const std::string& name, const std::vector<int64_t>& shape,
                        std::mt19937_64& rng) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<float> v(static_cast<size_t>(n));
    auto ends = [&](const char* suf) {
        return name.size() >= std::strlen(suf) &&
               name.compare(name.size() - std::strlen(suf), std::string::npos, suf) == 0;
    };
    const float fanIn = shape.size() == 2 ? float(shape[1]) : 1.0f;
    for (float& x : v) {
        if (ends("norm.weight") || ends("norm2.weight") || ends("norm_f.weight"))
            x = 1.0f + 0.25f * g(rng);
        else if (ends("B_bias") || ends("C_bias") || ends("mixer.D"))
            x = 1.0f + 0.5f * g(rng);
        else if (ends("dt_bias")) {
            const float dt =
                std::exp(std::log(0.001f) +
                         std::uniform_real_distribution<float>(0, 1)(rng) * std::log(100.0f));
            x = dt + std::log(-std::expm1(-dt)) + 0.5f * g(rng);
        } else if (ends("mimo_x") || ends("mimo_o"))
            x = (1.0f + 0.3f * g(rng)) / float(shape[1]);
        else if (ends("mimo_z"))
            x = 1.0f + 0.3f * g(rng);
        else if (ends("embedding.weight"))
            x = g(rng);
        else
            x = g(rng) / std::sqrt(fanIn);
    }
    return v;
}

}  // namespace

Expected<io::TensorMap> randomWeights(const RandomModelSpec& spec, uint64_t seed) {
    auto cfg = model::configParse(randomConfigJson(spec), "random config");
    if (!cfg) return cfg.status();
    std::mt19937_64 rng(seed);
    io::TensorMap m;
    for (const auto& [name, shape] : model::weightsExpected(*cfg))
        m[name] = io::RawTensor::fromFloat32(draw(name, shape, rng), shape);
    return m;
}

Status writeRandomModel(const std::string& dir, const RandomModelSpec& spec, uint64_t seed) {
    std::filesystem::create_directories(dir);
    auto w = randomWeights(spec, seed);
    if (!w) return w.status();
    std::ofstream(dir + "/config.json") << randomConfigJson(spec);
    return io::safetensorsWrite(dir + "/model.safetensors", *w);
}

RandomModelSpec randomSpec(uint64_t seed) {
    std::mt19937_64 rng(seed);
    auto pick = [&](std::initializer_list<int> xs) {
        return *(xs.begin() + std::uniform_int_distribution<size_t>(0, xs.size() - 1)(rng));
    };
    RandomModelSpec s;
    s.dModel = pick({16, 32, 48});
    s.nLayer = pick({1, 2, 3});
    s.vocab = pick({50, 64, 97});
    s.dIntermediate = pick({0, 0, 40});
    s.dState = pick({8, 16, 32});
    s.headdim = pick({8, 16});
    s.ngroups = pick({1, 1, 2});
    s.mimoRank = pick({0, 0, 1, 2, 3, 4});
    s.chunk = pick({1, 4, 7, 16, 64});
    s.ropeFraction = pick({0, 1}) ? 1.0 : 0.5;
    s.outprojNorm = pick({0, 1});
    s.tied = pick({0, 1});
    if ((s.expand * s.dModel / s.headdim) % s.ngroups != 0) s.ngroups = 1;
    return s;
}

std::string makeTempDir(const std::string& prefix) {
    std::random_device rd;
    auto p = std::filesystem::temp_directory_path() /
             (prefix + "-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(p);
    return p.string();
}

}  // namespace lectern::test
