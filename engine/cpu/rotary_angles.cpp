// CPU reference for rotary_angles_forward (engine/ops/rotary_angles.h). Sequential in t
// (the angle is a running sum), parallel over heads.
#include "ops/rotary_angles.h"

#include <cmath>

namespace lectern::cpu {
namespace {

void rotate(float* v, const ops::Mamba3Dims& d, const float* cosv, const float* sinv) {
    for (int a = 0; a < d.A; ++a) {
        const int i0 = d.mimo ? a : 2 * a;
        const int i1 = d.mimo ? a + d.N / 2 : 2 * a + 1;
        const float u = v[i0], w = v[i1];
        v[i0] = u * cosv[a] - w * sinv[a];
        v[i1] = u * sinv[a] + w * cosv[a];
    }
}

}  // namespace

void rotary_angles_forward(const ops::Mamba3Dims& d, float* q, float* k, float* angleState,
                           const float* dtheta, int64_t T) {
    const int64_t qkStride = int64_t(d.R) * d.H * d.N;
#pragma omp parallel for schedule(static) if (T * d.H > 64)
    for (int h = 0; h < d.H; ++h) {
        // A <= N/2 <= 256 (checked when the config loads)
        float cosv[256], sinv[256];
        double theta[256];
        float* state = angleState + int64_t(h) * d.A;
        for (int a = 0; a < d.A; ++a) theta[a] = state[a];
        for (int64_t t = 0; t < T; ++t) {
            const float* inc = dtheta + (t * d.H + h) * d.A;
            for (int a = 0; a < d.A; ++a) {
                theta[a] = advanceAngle(theta[a], inc[a]);
                cosv[a] = std::cos(float(theta[a]));
                sinv[a] = std::sin(float(theta[a]));
            }
            for (int r = 0; r < d.R; ++r) {
                const int64_t off = t * qkStride + (int64_t(r) * d.H + h) * d.N;
                rotate(q + off, d, cosv, sinv);
                rotate(k + off, d, cosv, sinv);
            }
        }
        for (int a = 0; a < d.A; ++a) state[a] = float(theta[a]);  // once per call
    }
}

}  // namespace lectern::cpu
