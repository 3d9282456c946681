// CPU reference for lm_head_forward (engine/ops/lm_head.h): the same GEMM as linear.
#include "ops/lm_head.h"

#include "ops/linear.h"

namespace lectern::cpu {

void lm_head_forward(float* logits, const float* normed, const float* weight, int64_t rows,
                     int64_t D, int64_t V) {
    linear_forward(logits, normed, weight, rows, D, V);
}

}  // namespace lectern::cpu
