// AdamW with fp32 moments (the CPU twin of a future kernels/adamw.cu), the learning-rate
// schedule (linear warm-up, then cosine decay to a floor), global-norm gradient clipping
// and the finiteness check that guards every update (RELIABILITY NUM-4).
#pragma once

#include <cstdint>

#include "model/config.h"
#include "model/weights.h"

namespace lectern::train {

struct AdamWConfig {
    double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
    double weightDecay = 0.1;  // decoupled; not applied where noWeightDecay(name)
};

struct AdamWState {
    int64_t step = 0;       // updates taken (bias correction uses step + 1)
    model::ModelWeights m;  // first moments, shaped like the weights
    model::ModelWeights v;  // second moments
};

AdamWState adamwInit(const model::ModelConfig& cfg);

// One update of every parameter with learning rate lr:
//   m = β1 m + (1−β1) g;  v = β2 v + (1−β2) g²;  m̂ = m/(1−β1^t);  v̂ = v/(1−β2^t)
//   w -= lr·(m̂/(√v̂ + eps) + wd·w)   (wd = 0 for the exempt parameters)
void adamw_update(const model::ModelConfig& cfg, const AdamWConfig& c, double lr,
                  model::ModelWeights& w, model::ModelWeights& grads, AdamWState& s);

// The same update on one flat tensor of n values, `step` the update count after this one
// (≥ 1), wd its decay (0: exempt). LoRA adapters use it directly.
void adamw_tensor(const AdamWConfig& c, double lr, float wd, int64_t step, float* w, const float* g,
                  float* m, float* v, int64_t n);

// The L2 norm of all gradients together, in double. Non-finite if any entry is.
double gradNorm(const model::ModelConfig& cfg, model::ModelWeights& grads);
void scaleGrads(const model::ModelConfig& cfg, model::ModelWeights& grads, float factor);
// True when every weight is finite (checked before a checkpoint is written).
bool allFinite(const model::ModelConfig& cfg, model::ModelWeights& w);

// Linear warm-up over `warmup` steps to maxLr, then cosine decay to minLr at `total`.
double lrAt(int64_t step, int64_t warmup, int64_t total, double maxLr, double minLr);
// Warm-up, stable, decay (WSD): linear warm-up over `warmup` steps, maxLr until the last
// decayFraction of `total` steps, then linear decay to minLr at `total`. A run can be
// extended from a stable-phase checkpoint without having already decayed.
double lrWsd(int64_t step, int64_t warmup, int64_t total, double decayFraction, double maxLr,
             double minLr);

}  // namespace lectern::train
