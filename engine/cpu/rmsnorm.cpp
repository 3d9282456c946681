// CPU reference for rmsnorm_forward (engine/ops/rmsnorm.h). Sums of squares in double:
// cheap here, and it keeps the norm's own rounding far below the model's tolerance.
#include "ops/rmsnorm.h"

#include <cmath>

namespace lectern::cpu {

void rmsnorm_forward(float* out, const float* in, const float* weight, int64_t rows, int64_t dim,
                     float eps) {
#pragma omp parallel for schedule(static) if (rows * dim > 16384)
    for (int64_t r = 0; r < rows; ++r) {
        const float* x = in + r * dim;
        double ss = 0.0;
        for (int64_t i = 0; i < dim; ++i) ss += double(x[i]) * x[i];
        const float scale = float(1.0 / std::sqrt(ss / double(dim) + double(eps)));
        float* o = out + r * dim;
        for (int64_t i = 0; i < dim; ++i) o[i] = x[i] * scale * weight[i];
    }
}

}  // namespace lectern::cpu
