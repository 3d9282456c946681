// Op embedding_forward: token ids to rows of the embedding table.
//   ids   int32 [T], each in [0, V) (the caller validates them against the padded vocab)
//   table fp32 [V, D] row-major
//   out   fp32 [T, D]: out[t, :] = table[ids[t], :]
#pragma once

#include <cstdint>

namespace lectern::cpu {

void embedding_forward(float* out, const int32_t* ids, int64_t T, const float* table, int64_t D);

}  // namespace lectern::cpu
