// Loading a model folder for training (config.json + weights, checked by the engine's own
// loaders), token id files as the golden data holds them, and the golden gradient layout:
// `loss` (fp64 [1]), `loss_f32` and `grad.<name>` (tied: only grad.backbone.embedding.weight,
// with the alias in __metadata__).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/raw_tensor.h"
#include "lectern/status.h"
#include "model/config.h"
#include "model/weights.h"

namespace lectern::train {

struct TrainModel {
    model::ModelConfig cfg;
    model::ModelWeights w;
    std::string configText;  // config.json as read, written back into checkpoints
};

Expected<TrainModel> loadTrainModel(const std::string& dir);
// A fresh model from a config.json file (initWeights with `seed`).
Expected<TrainModel> newTrainModel(const std::string& configPath, uint64_t seed);

// int32 `input_ids` [B, L] of a safetensors file.
Expected<std::vector<int32_t>> readInputIds(const std::string& path, int64_t& B, int64_t& L);

struct GradsResult {
    double loss = 0.0;  // mean over B·(L−1) positions
    io::TensorMap tensors;
    std::map<std::string, std::string> metadata;
};
// The golden file's layout (loss, loss_f32, grad.<name>) of a mean loss and its gradients,
// wherever they were computed (computeGrads here, computeGradsCuda on the GPU).
GradsResult goldenGrads(const model::ModelConfig& cfg, model::ModelWeights& g, double loss);
// The golden file's contents for `ids` [B, L]; ids are checked against the vocabulary.
Expected<GradsResult> computeGrads(TrainModel& m, const std::vector<int32_t>& ids, int64_t B,
                                   int64_t L);

// Writes config.json and model.safetensors (each atomically) into `dir` (created).
Status writeModelDir(const std::string& dir, TrainModel& m);

}  // namespace lectern::train
