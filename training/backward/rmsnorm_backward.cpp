// CPU reference backward of rmsnorm_forward (engine/ops/rmsnorm.h), also the norm half of
// add_rmsnorm. With r = rsqrt(mean x² + eps) and g = dout ⊙ w (NOTES-rmsnorm.md):
//   dx = r·g − x · r³/dim · Σ_j g_j x_j,    dw += dout ⊙ x·r
// Sums in double, as the forward.
#include <cmath>
#include <vector>

#include "training/backward/backward_ops.h"

namespace lectern::train {

void rmsnorm_backward(float* din, float* dweight, const float* dout, const float* in,
                      const float* weight, int64_t rows, int64_t dim, float eps) {
    std::vector<double> dw(size_t(dim), 0.0);
    for (int64_t r = 0; r < rows; ++r) {
        const float* x = in + r * dim;
        const float* go = dout + r * dim;
        double ss = 0.0, gx = 0.0;
        for (int64_t i = 0; i < dim; ++i) {
            ss += double(x[i]) * x[i];
            gx += double(go[i]) * weight[i] * x[i];
        }
        const double rs = 1.0 / std::sqrt(ss / double(dim) + double(eps));
        const double c = rs * rs * rs / double(dim) * gx;
        float* dx = din + r * dim;
        for (int64_t i = 0; i < dim; ++i) {
            dx[i] += float(rs * double(go[i]) * weight[i] - c * x[i]);
            dw[size_t(i)] += double(go[i]) * x[i] * rs;
        }
    }
    for (int64_t i = 0; i < dim; ++i) dweight[i] += float(dw[size_t(i)]);
}

}  // namespace lectern::train
