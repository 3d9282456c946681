// CPU reference backward of embedding_forward (engine/ops/embedding.h): a scatter-add of
// the output gradient rows into the table rows of their tokens. Sequential, because two
// tokens may share a row.
#include "training/backward/backward_ops.h"

namespace lectern::train {

void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t T,
                        int64_t D) {
    for (int64_t t = 0; t < T; ++t) {
        float* row = dtable + int64_t(ids[t]) * D;
        const float* g = dout + t * D;
        for (int64_t i = 0; i < D; ++i) row[i] += g[i];
    }
}

}  // namespace lectern::train
