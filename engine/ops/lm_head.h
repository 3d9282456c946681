// Op lm_head_forward: logits from the final normed hidden states.
//   normed fp32 [rows, D];  W fp32 [V_pad, D] (the embedding table when tied)
//   logits fp32 [rows, V_pad] = normed · Wᵀ. Padded rows are ordinary rows: nothing masked.
// Its own op (not just linear) because it dominates decode traffic (V_pad·D weights per
// token) and a GPU backend will want a dedicated GEMV and optional last-row-only mode.
#pragma once

#include <cstdint>

namespace lectern::cpu {

void lm_head_forward(float* logits, const float* normed, const float* weight, int64_t rows,
                     int64_t D, int64_t V);

}  // namespace lectern::cpu
