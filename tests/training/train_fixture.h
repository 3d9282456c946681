// Shared set-up for the training-loop tests: a tiny byte-level Mamba-3 configuration and a
// real text (a licence from /usr/share/common-licenses, present on every Debian system).
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "lectern/status.h"
#include "model/config.h"
#include "training/model_io.h"
#include "training/params.h"
#include "training/trainer.h"

namespace lectern::test {

inline std::string tinyConfigJson(bool mimo) {
    return std::string(
               "{\"d_model\": 32, \"d_intermediate\": 0, \"n_layer\": 2, \"vocab_size\": "
               "256, \"ssm_cfg\": {\"layer\": \"Mamba3\", \"d_state\": 16, \"headdim\": "
               "16, \"chunk_size\": 64") +
           (mimo ? ", \"is_mimo\": true, \"mimo_rank\": 2" : "") +
           "}, \"rms_norm\": true, \"residual_in_fp32\": true, \"fused_add_norm\": true, "
           "\"pad_vocab_size_multiple\": 8, \"tie_embeddings\": true}";
}

inline Expected<train::TrainModel> tinyModel(bool mimo, uint64_t seed) {
    const std::string text = tinyConfigJson(mimo);
    auto cfg = model::configParse(text, "tiny config");
    if (!cfg) return cfg.status();
    return train::TrainModel{*cfg, train::initWeights(*cfg, seed), text};
}

// The text of a licence file, or empty if the system has none.
inline std::string licenceText(const std::string& name) {
    std::ifstream f("/usr/share/common-licenses/" + name, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

// The loop tests' real text: the BSD licence, or a filler where the system has none.
inline std::string trainCorpus() {
    std::string t = licenceText("BSD");
    if (t.size() < 1000) t = std::string(2000, 'a') + "the quick brown fox jumps over the lazy dog";
    return t;
}

// A fresh run of the tiny model over trainCorpus() (a fifth held out, split by o.seed).
inline Expected<train::TrainRun> freshTinyRun(const train::TrainOptions& o, bool mimo,
                                              uint64_t weightSeed) {
    auto m = tinyModel(mimo, weightSeed);
    if (!m) return m.status();
    train::TrainRun r{
        std::move(*m), {}, train::ByteDataStream::fromBytes(trainCorpus(), 0.2, o.seed)};
    r.opt = train::adamwInit(r.model.cfg);
    return r;
}

inline std::string fileBytes(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

}  // namespace lectern::test
