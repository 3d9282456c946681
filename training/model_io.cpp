// Model folders, id files and the golden gradient layout for training (model_io.h).
#include "training/model_io.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/byte_source.h"
#include "io/input_ids.h"
#include "io/safetensors.h"
#include "training/model_train.h"
#include "training/params.h"

namespace lectern::train {
namespace {

Expected<std::string> readText(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return Status::error(path + ": cannot open");
    std::ostringstream s;
    s << f.rdbuf();
    if (f.bad()) return Status::error(path + ": read error");
    return s.str();
}

}  // namespace

Expected<TrainModel> loadTrainModel(const std::string& dir) {
    const std::string cfgPath = (std::filesystem::path(dir) / "config.json").string();
    auto text = readText(cfgPath);
    if (!text) return text.status();
    auto cfg = model::configParse(*text, cfgPath);
    if (!cfg) return cfg.status();
    auto file = io::safetensorsReadModel(dir);
    if (!file) return file.status();
    auto w = model::weightsFromTensors(*cfg, file->tensors, dir + "/model.safetensors");
    if (!w) return w.status();
    return TrainModel{*cfg, std::move(*w), *text};
}

Expected<TrainModel> newTrainModel(const std::string& configPath, uint64_t seed) {
    auto text = readText(configPath);
    if (!text) return text.status();
    auto cfg = model::configParse(*text, configPath);
    if (!cfg) return cfg.status();
    return TrainModel{*cfg, initWeights(*cfg, seed), *text};
}

Expected<std::vector<int32_t>> readInputIds(const std::string& path, int64_t& B, int64_t& L) {
    auto ids = io::readInputIds(path, B, L);
    if (ids && (B < 1 || L < 2))
        return Status::error(path + ": 'input_ids' needs B >= 1 and L >= 2");
    return ids;
}

Expected<GradsResult> computeGrads(TrainModel& m, const std::vector<int32_t>& ids, int64_t B,
                                   int64_t L) {
    const int V = m.cfg.vocabPadded();
    for (size_t i = 0; i < ids.size(); ++i) {
        if (ids[i] < 0 || ids[i] >= V)
            return Status::error("token id " + std::to_string(ids[i]) + " at index " +
                                 std::to_string(i) + " is outside [0, " + std::to_string(V) + ")");
    }
    model::ModelWeights g = zerosLike(m.cfg);
    const double count = double(B) * double(L - 1);
    const double sum = loss_and_grads(m.cfg, m.w, ids.data(), B, L, &g, 1.0 / count);
    return goldenGrads(m.cfg, g, sum / count);
}

GradsResult goldenGrads(const model::ModelConfig& cfg, model::ModelWeights& g, double loss) {
    GradsResult r;
    r.loss = loss;
    r.tensors = toTensorMap(cfg, g, "grad.");
    io::RawTensor l;
    l.dtype = io::DType::F64;
    l.shape = {1};
    l.bytes.resize(sizeof(double));
    std::memcpy(l.bytes.data(), &r.loss, sizeof(double));
    r.tensors["loss"] = std::move(l);
    r.tensors["loss_f32"] = io::RawTensor::fromFloat32({float(r.loss)}, {1});
    if (cfg.tieEmbeddings) r.metadata["grad.lm_head.weight"] = "grad.backbone.embedding.weight";
    return r;
}

Status writeModelDir(const std::string& dir, TrainModel& m) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::error(dir + ": cannot create folder: " + ec.message());
    const std::string cfgPath = (std::filesystem::path(dir) / "config.json").string();
    if (Status st = io::writeFileAtomic(cfgPath, m.configText); !st) return st;
    std::map<std::string, std::string> meta{{"format", "pt"}};
    if (m.cfg.tieEmbeddings) meta["lm_head.weight"] = "backbone.embedding.weight";
    return io::safetensorsWrite((std::filesystem::path(dir) / "model.safetensors").string(),
                                toTensorMap(m.cfg, m.w, ""), meta);
}

}  // namespace lectern::train
