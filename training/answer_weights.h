// Per-position loss-gradient weights for `lectern-cli train --answer-weight W` (issue 6):
// in a window of byte ids, the positions whose TARGET byte (ids[t+1]) belongs to an answer
// get weight W, every other position 1. An answer is what follows the prompt's marker
// "Answer:" (resources/models/default/prompt.json) up to and including the next '\n': the
// space, the value and the newline. Found in the window's own bytes only, so a marker cut
// off at the window's start leaves its answer unweighted.
#pragma once

#include <cstdint>
#include <vector>

namespace lectern::train {

inline constexpr char kAnswerMarker[] = "Answer:";

// True for each index of ids[0..n) that is an answer byte (above).
std::vector<bool> answer_byte_mask(const int32_t* ids, int64_t n);

// B rows of L ids ([B, L] row-major) into out [B, L]: out[b·L + t] = weight when
// ids[b·L + t + 1] is an answer byte, else 1 (the last position of a row predicts nothing: 1).
void answer_row_weights(const int32_t* ids, int64_t B, int64_t L, float weight,
                        std::vector<float>& out);

}  // namespace lectern::train
