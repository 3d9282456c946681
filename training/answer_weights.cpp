// The answer mask behind --answer-weight (training/answer_weights.h).
#include "training/answer_weights.h"

#include <cstddef>

namespace lectern::train {

std::vector<bool> answer_byte_mask(const int32_t* ids, int64_t n) {
    constexpr int64_t kLen = int64_t(sizeof(kAnswerMarker)) - 1;
    std::vector<bool> mask(size_t(n), false);
    bool inAnswer = false;
    for (int64_t i = 0; i < n; ++i) {
        if (inAnswer) {
            mask[size_t(i)] = true;
            if (ids[i] == '\n') inAnswer = false;
            continue;
        }
        // Does the marker end at i? Then the answer starts at i + 1.
        if (i + 1 >= kLen && ids[i] == ':') {
            bool match = true;
            for (int64_t k = 0; k < kLen && match; ++k)
                match = ids[i - kLen + 1 + k] == int32_t(uint8_t(kAnswerMarker[k]));
            inAnswer = match;
        }
    }
    return mask;
}

void answer_row_weights(const int32_t* ids, int64_t B, int64_t L, float weight,
                        std::vector<float>& out) {
    out.assign(size_t(B * L), 1.0f);
    for (int64_t b = 0; b < B; ++b) {
        const std::vector<bool> mask = answer_byte_mask(ids + b * L, L);
        for (int64_t t = 0; t + 1 < L; ++t)
            if (mask[size_t(t + 1)]) out[size_t(b * L + t)] = weight;
    }
}

}  // namespace lectern::train
