// CPU reference backward of gated_mlp_forward (engine/ops/gated_mlp.h). The forward's
// hidden h = in · fc1ᵀ is recomputed (one GEMM) rather than saved. With a = h[:F],
// g = h[F:], s = silu(g), y = a ⊙ s:
//   dfc2 += doutᵀ y;  dy = dout · fc2;  da = dy ⊙ s;  dg = dy ⊙ a ⊙ silu'(g)
//   silu'(g) = σ(g)·(1 + g·(1 − σ(g)));  then linear_backward for fc1 with dh = [da, dg].
#include <cmath>
#include <vector>

#include "ops/linear.h"
#include "training/backward/backward_ops.h"

namespace lectern::train {

void gated_mlp_backward(float* din, float* dfc1, float* dfc2, const float* dout, const float* in,
                        const float* fc1, const float* fc2, int64_t rows, int64_t D, int64_t F) {
    std::vector<float> h(size_t(rows * 2 * F)), y(size_t(rows * F)), dy(size_t(rows * F), 0.0f);
    cpu::linear_forward(h.data(), in, fc1, rows, D, 2 * F);
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t i = 0; i < F; ++i) {
            const float g = h[size_t(r * 2 * F + F + i)];
            y[size_t(r * F + i)] = h[size_t(r * 2 * F + i)] * (g / (1.0f + std::exp(-g)));
        }
    }
    // fc2: out = y · fc2ᵀ with fc2 [D, F]
    linear_backward(dy.data(), dfc2, dout, y.data(), fc2, rows, F, D);
    std::vector<float>& dh = y;  // reuse: y is no longer needed
    dh.assign(size_t(rows * 2 * F), 0.0f);
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t i = 0; i < F; ++i) {
            const float a = h[size_t(r * 2 * F + i)], g = h[size_t(r * 2 * F + F + i)];
            const float sg = 1.0f / (1.0f + std::exp(-g));
            const float gy = dy[size_t(r * F + i)];
            dh[size_t(r * 2 * F + i)] = gy * g * sg;
            dh[size_t(r * 2 * F + F + i)] = gy * a * sg * (1.0f + g * (1.0f - sg));
        }
    }
    linear_backward(din, dfc1, dh.data(), in, fc1, rows, D, 2 * F);
}

}  // namespace lectern::train
