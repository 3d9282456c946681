// CPU reference for gated_mlp_forward (engine/ops/gated_mlp.h): two GEMMs around an
// in-place SiLU gate.
#include "ops/gated_mlp.h"

#include <cmath>

#include "ops/linear.h"

namespace lectern::cpu {

void gated_mlp_forward(float* out, const float* in, const float* fc1, const float* fc2,
                       float* scratch, int64_t rows, int64_t D, int64_t F) {
    linear_forward(scratch, in, fc1, rows, D, 2 * F);
    // Gate row r into its first half: y = h[:F] * silu(h[F:]), then out = y · fc2ᵀ with the
    // row stride 2F (so no copy is needed).
#pragma omp parallel for schedule(static) if (rows * F > 16384)
    for (int64_t r = 0; r < rows; ++r) {
        float* h = scratch + r * 2 * F;
        for (int64_t i = 0; i < F; ++i) {
            const float g = h[F + i];
            h[i] = h[i] * (g / (1.0f + std::exp(-g)));
        }
    }
    for (int64_t r = 0; r < rows; ++r) {
        // Compact each row's gated half so one sgemm with lda = F can follow.
        if (r > 0) {
            const float* src = scratch + r * 2 * F;
            float* dst = scratch + r * F;
            for (int64_t i = 0; i < F; ++i) dst[i] = src[i];
        }
    }
    linear_forward(out, scratch, fc2, rows, F, D);
}

}  // namespace lectern::cpu
