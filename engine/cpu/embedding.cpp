// CPU reference for embedding_forward (engine/ops/embedding.h).
#include "ops/embedding.h"

#include <cstring>

namespace lectern::cpu {

void embedding_forward(float* out, const int32_t* ids, int64_t T, const float* table, int64_t D) {
    for (int64_t t = 0; t < T; ++t) {
        std::memcpy(out + t * D, table + int64_t(ids[t]) * D, size_t(D) * sizeof(float));
    }
}

}  // namespace lectern::cpu
