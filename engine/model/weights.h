// The model's parameters in fp32, taken from a TensorMap with the official names
// (backbone.layers.{i}.mixer.in_proj.weight, ...). Every tensor is checked against the
// shape config.json implies; missing and unexpected tensors are errors.
#pragma once

#include <string>
#include <vector>

#include "io/raw_tensor.h"
#include "lectern/status.h"
#include "model/config.h"

namespace lectern::model {

struct LayerWeights {
    std::vector<float> norm;                 // [D]
    std::vector<float> inProj;               // [dInProj, D]
    std::vector<float> dtBias;               // [H]
    std::vector<float> bBias, cBias;         // [H, R, N]
    std::vector<float> bNorm, cNorm;         // [N]
    std::vector<float> D;                    // [H]
    std::vector<float> mimoX, mimoZ, mimoO;  // [H, R, P] (MIMO only)
    std::vector<float> outNorm;              // [d_inner] (is_outproj_norm only)
    std::vector<float> outProj;              // [D, d_inner]
    std::vector<float> norm2;                // [D] (MLP only)
    std::vector<float> fc1;                  // [2F, D]
    std::vector<float> fc2;                  // [D, F]
};

struct ModelWeights {
    std::vector<float> embedding;  // [V_pad, D]
    std::vector<float> normF;      // [D]
    std::vector<float> lmHead;     // [V_pad, D]; empty when tied (use embedding)
    std::vector<LayerWeights> layers;

    const float* lmHeadData() const { return lmHead.empty() ? embedding.data() : lmHead.data(); }
};

// Takes the tensors out of `tensors` (emptying it as it goes, to bound peak memory).
// `source` names the file(s) in messages. A tied model may carry lm_head.weight (the
// official pytorch_model.bin does): it must then have the embedding's shape.
Expected<ModelWeights> weightsFromTensors(const ModelConfig& cfg, io::TensorMap& tensors,
                                          const std::string& source);

// The official name and shape of every tensor the config implies (lm_head only if untied).
std::vector<std::pair<std::string, std::vector<int64_t>>> weightsExpected(const ModelConfig& cfg);

}  // namespace lectern::model
