// CPU reference for mamba3_gate_forward (engine/ops/mamba3_gate.h).
#include "ops/mamba3_gate.h"

#include <cmath>

namespace lectern::cpu {
namespace {

float silu(float u) {
    return u / (1.0f + std::exp(-u));
}

}  // namespace

void mamba3_gate_forward(const ops::Mamba3Dims& d, const ops::Mamba3GateParams& prm, const float* y,
                         const float* z, int64_t zStride, int64_t T, float* out) {
#pragma omp parallel for schedule(static) if (T > 8)
    for (int64_t t = 0; t < T; ++t) {
        for (int h = 0; h < d.H; ++h) {
            float* o = out + t * d.dInner() + int64_t(h) * d.P;
            const float* zh = z + t * zStride + int64_t(h) * d.P;
            for (int p = 0; p < d.P; ++p) o[p] = 0.0f;
            for (int r = 0; r < d.R; ++r) {
                const float* yr = y + ((t * d.R + r) * d.H + h) * int64_t(d.P);
                float scale = 1.0f;
                if (prm.normW != nullptr) {
                    double ss = 0.0;
                    for (int p = 0; p < d.P; ++p) ss += double(yr[p]) * yr[p];
                    scale = float(1.0 / std::sqrt(ss / d.P + double(d.eps)));
                }
                const int64_t wOff = (int64_t(h) * d.R + r) * d.P;
                for (int p = 0; p < d.P; ++p) {
                    float v = yr[p] * scale;
                    if (prm.normW != nullptr) v *= prm.normW[int64_t(h) * d.P + p];
                    const float zr = prm.mimoZ ? zh[p] * prm.mimoZ[wOff + p] : zh[p];
                    v *= silu(zr);
                    o[p] += prm.mimoO ? v * prm.mimoO[wOff + p] : v;
                }
            }
        }
    }
}

}  // namespace lectern::cpu
