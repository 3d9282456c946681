// Choosing the next token from logits: greedy, or sampling with temperature, top-k, top-p
// (nucleus), min-p and a repetition penalty, from a seeded RNG so that a run with the same
// seed, model and prompt gives the same text. Only ids below the real vocabulary size are
// candidates (padded rows of the LM head are never chosen).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "lectern/status.h"

namespace lectern::generate {

struct SamplingOptions {
    bool greedy = false;             // argmax (first of equal maxima); also when temperature <= 0
    float temperature = 1.0f;        // logits / T before the softmax
    int topK = 0;                    // keep the K most likely (0: off)
    float topP = 1.0f;               // keep the smallest set with mass >= P (1: off)
    float minP = 0.0f;               // keep p >= minP * p_max (0: off)
    float repetitionPenalty = 1.0f;  // CTRL rule on every id in the history (1: off)
    uint64_t seed = 0;
};

// The options' ranges: temperature finite, topK >= 0, topP in (0, 1], minP in [0, 1],
// repetitionPenalty > 0. The message names the option.
Status validate(const SamplingOptions& o);

// logits[id] / penalty if positive, * penalty if not, once per distinct id in history.
void applyRepetitionPenalty(std::span<float> logits, std::span<const int32_t> history,
                            float penalty);

// The distribution sampling draws from, after the penalty, temperature, top-k, top-p and
// min-p (in that order, renormalised after each mask): probabilities summing to 1, exactly 0
// for every masked id. Greedy: 1 at the argmax.
std::vector<double> samplingDistribution(std::span<const float> logits,
                                         std::span<const int32_t> history,
                                         const SamplingOptions& o);

// The inverse-CDF draw Sampler makes: the first id (ascending) at which the cumulative sum
// of p exceeds u, or the last id with p > 0 when rounding leaves u above the total. The GPU
// sampler (cuda::sample_forward) picks the same id for the same u.
int32_t drawToken(std::span<const double> p, double u);

// Buffers reused from token to token (a vocabulary-sized allocation per token costs page
// faults that dominate the sampling time).
struct SamplingScratch {
    std::vector<float> logits;
    std::vector<double> p;
    std::vector<int32_t> order;
};
// As above, leaving the distribution in s.p.
void samplingDistribution(std::span<const float> logits, std::span<const int32_t> history,
                          const SamplingOptions& o, SamplingScratch& s);

class Sampler {
public:
    explicit Sampler(const SamplingOptions& o) : opt_(o), rng_(o.seed) {}
    // `logits` is the model's row cut to the real vocabulary size.
    int32_t sample(std::span<const float> logits, std::span<const int32_t> history);
    // The same for a draw u the caller took from uniform() (sampling on the GPU falls back
    // here with its u, so the seed's sequence of draws is the same on either device).
    int32_t sample(std::span<const float> logits, std::span<const int32_t> history, double u);
    // A uniform draw in [0, 1) from the 53 high bits: the same on every platform.
    double uniform() { return double(rng_() >> 11) * 0x1.0p-53; }

private:
    SamplingOptions opt_;
    std::mt19937_64 rng_;
    SamplingScratch scratch_;
};

}  // namespace lectern::generate
