// Per-token surprisal (engine/model/surprisal.h): a log-sum-exp per row of logits.
#include "model/surprisal.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lectern::detail {

float surprisal_bits(const float* logits, int64_t vocab, int32_t token) {
    if (token < 0 || token >= vocab) return std::numeric_limits<float>::infinity();
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t v = 0; v < vocab; ++v) mx = std::max(mx, logits[v]);
    double sum = 0.0;
    for (int64_t v = 0; v < vocab; ++v) sum += std::exp(double(logits[v]) - double(mx));
    const double lnP = double(logits[token]) - double(mx) - std::log(sum);
    return float(-lnP / std::log(2.0));
}

void surprisal_append(std::span<const int32_t> tokens, std::span<const float> before,
                      const float* pieceLogits, int64_t vPadded, int64_t vocab, float* out) {
    const int64_t T = int64_t(tokens.size());
    if (T == 0) return;
    out[0] = before.empty() ? std::numeric_limits<float>::quiet_NaN()
                            : surprisal_bits(before.data(), vocab, tokens[0]);
#pragma omp parallel for schedule(static) if (T * vocab > (1 << 16))
    for (int64_t t = 1; t < T; ++t)
        out[t] = surprisal_bits(pieceLogits + (t - 1) * vPadded, vocab, tokens[size_t(t)]);
}

}  // namespace lectern::detail
