// The model's parameters seen as a list of named tensors (the official names of
// model.safetensors), and gradients held in the same ModelWeights layout: one struct for
// weights, gradients and AdamW moments, so every loop over "all parameters" is one loop.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/raw_tensor.h"
#include "lectern/status.h"
#include "model/config.h"
#include "model/weights.h"

namespace lectern::train {

struct NamedTensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float>* data;
};

// Every tensor the config implies, in model::weightsExpected order. With tied embeddings
// there is no lm_head entry (its gradient is summed into the embedding's).
std::vector<NamedTensor> namedParams(const model::ModelConfig& cfg, model::ModelWeights& w);

// A zero-filled ModelWeights with the shapes `cfg` implies (gradients, moments).
model::ModelWeights zerosLike(const model::ModelConfig& cfg);
// zero_grad: sets every tensor of g to zero (sizes kept).
void zero_grad(const model::ModelConfig& cfg, model::ModelWeights& g);

// True for the parameters AdamW must not decay: dt_bias and D (the official model marks
// them _no_weight_decay), every norm weight, and the B/C biases.
bool noWeightDecay(const std::string& name);

// Copies into named RawTensors (`prefix` + name), e.g. "grad." for the golden layout.
io::TensorMap toTensorMap(const model::ModelConfig& cfg, model::ModelWeights& w,
                          const std::string& prefix);

// Fresh weights for training from scratch, deterministic in `seed`: linear layers and the
// embedding N(0, 0.02) (out_proj and fc2 scaled by 1/sqrt(2·n_layer), as the official
// _init_weights rescales residual outputs), norms 1, B/C biases 1, D 1, dt_bias the inverse
// softplus of a log-uniform dt in [dt_min, dt_max], MIMO x and o 1/R, z 1.
model::ModelWeights initWeights(const model::ModelConfig& cfg, uint64_t seed);

}  // namespace lectern::train
