// Per-token surprisal from logits, for PrefillOptions::surprisalBits: the bits the model
// needed for each token it read, -log2 softmax(logits of the token before)[token].
#pragma once

#include <cstdint>
#include <span>

namespace lectern::detail {

// -log2 p(token) under a softmax of logits[0, vocab) (padding ids beyond vocab excluded).
// Accumulates in double: a 50k-entry sum in fp32 loses the small terms.
float surprisal_bits(const float* logits, int64_t vocab, int32_t token);

// Appends one value per token in `tokens`: token 0 is scored by `before` (the logits the
// state held before this piece; NaN if empty), token t > 0 by row t-1 of `pieceLogits`
// ([T, vPadded]).
void surprisal_append(std::span<const int32_t> tokens, std::span<const float> before,
                      const float* pieceLogits, int64_t vPadded, int64_t vocab, float* out);

}  // namespace lectern::detail
