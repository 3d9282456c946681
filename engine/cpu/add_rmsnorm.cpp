// CPU reference for add_rmsnorm_forward (engine/ops/add_rmsnorm.h).
#include "ops/add_rmsnorm.h"

#include "ops/rmsnorm.h"

namespace lectern::cpu {

void add_rmsnorm_forward(float* out, float* residual, const float* delta, const float* weight,
                         int64_t rows, int64_t dim, float eps) {
    if (delta != nullptr) {
        const int64_t n = rows * dim;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; ++i) residual[i] += delta[i];
    }
    rmsnorm_forward(out, residual, weight, rows, dim, eps);
}

}  // namespace lectern::cpu
