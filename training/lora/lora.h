// LoRA adapters (Hu et al. 2021) for fine-tuning: each targeted weight W [out, in] gets
// A [r, in] and B [out, r] and is used as W + (alpha / r)·B·A. A starts small and random,
// B at zero, so training starts from the base model exactly. Only A and B are trained and
// saved (adapter_model.safetensors + adapter_config.json, PEFT's file names and tensor
// names: "<base name without .weight>.lora_A.weight"); the base stays untouched.
//
// Training goes through the merged weights: the step merges W' = W + s·B·A, runs the
// ordinary full backward to get dW', and takes dB = s·dW'·Aᵀ, dA = s·Bᵀ·dW' (the chain
// rule through the merge; two small GEMMs per target). Exact, simple, and it reuses every
// backward op; the cost is one full-size gradient buffer, as full fine-tuning has.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lectern/status.h"
#include "model/config.h"
#include "model/weights.h"
#include "training/optim/adamw.h"

namespace lectern::train {

struct LoraConfig {
    int rank = 8;
    double alpha = 16.0;
    // Among in_proj, out_proj, fc1, fc2 ("mlp" is shorthand for fc1 and fc2).
    std::vector<std::string> targets{"in_proj", "out_proj"};
    double scale() const { return alpha / double(rank); }
};

struct LoraTarget {
    std::string name;  // base tensor name, e.g. backbone.layers.0.mixer.in_proj.weight
    int64_t out = 0, in = 0;
    std::vector<float> A, B;    // [r, in], [out, r]
    std::vector<float> mA, vA;  // AdamW moments
    std::vector<float> mB, vB;
    std::vector<float> gA, gB;  // gradients of the current step
};

struct LoraAdapters {
    LoraConfig cfg;
    std::vector<LoraTarget> targets;
    int64_t step = 0;  // AdamW updates taken
};

// Adapters for every matching matrix of the model: A ~ U(±1/√in) (deterministic in seed),
// B = 0. Errors on an unknown target or one the model does not have (fc1 without an MLP).
Expected<LoraAdapters> loraInit(const model::ModelConfig& mc, const LoraConfig& c, uint64_t seed);

// out = base with every target replaced by W + s·B·A (out's other tensors copied from base;
// out may be reused between calls, its buffers keep their sizes).
void loraMerge(const model::ModelConfig& mc, const model::ModelWeights& base, const LoraAdapters& a,
               model::ModelWeights& out);

// gA, gB of every target from the full gradients of the merged weights.
void loraGrads(const model::ModelConfig& mc, model::ModelWeights& fullGrads, LoraAdapters& a);
double loraGradNorm(const LoraAdapters& a);  // L2 over every gA, gB; non-finite if any is
void loraScaleGrads(LoraAdapters& a, float factor);
// One AdamW update of every A and B (decay applies, as PEFT's default optimiser does).
void loraAdamw(const AdamWConfig& c, double lr, LoraAdapters& a);
bool loraAllFinite(const LoraAdapters& a);

// adapter_config.json + adapter_model.safetensors into dir (each atomically); with
// withOptimizer also adapter_optimizer.safetensors (moments, step) for resuming.
Status loraWrite(const std::string& dir, const LoraAdapters& a, bool withOptimizer);
// Reads what loraWrite wrote (the optimizer file if present) and checks it against mc.
Expected<LoraAdapters> loraRead(const std::string& dir, const model::ModelConfig& mc);
bool loraPresent(const std::string& dir);  // dir holds adapter_config.json

}  // namespace lectern::train
