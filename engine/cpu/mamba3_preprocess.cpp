// CPU reference for mamba3_preprocess_forward (engine/ops/mamba3_preprocess.h).
#include "ops/mamba3_preprocess.h"

#include <cmath>
#include <numbers>

namespace lectern::cpu {
namespace {

float softplus(float u) {
    // As torch.nn.functional.softplus (threshold 20): linear above it, log1p(exp) below.
    return u > 20.0f ? u : std::log1p(std::exp(u));
}

float heavyTail(float u) {
    return u >= 0.0f ? 1.0f + u : 1.0f / (1.0f - u);
}

// One token's B or C: RMSNorm each (r, g) row over N, broadcast to the group's heads, add
// the per-head bias. dst [R, H, N].
void normBiasBroadcast(const ops::Mamba3Dims& d, const float* src, const float* normW,
                       const float* bias, float* dst) {
    const int headsPerGroup = d.H / d.G;
    for (int r = 0; r < d.R; ++r) {
        for (int g = 0; g < d.G; ++g) {
            const float* row = src + (int64_t(r) * d.G + g) * d.N;
            double ss = 0.0;
            for (int n = 0; n < d.N; ++n) ss += double(row[n]) * row[n];
            const float scale = float(1.0 / std::sqrt(ss / d.N + double(d.eps)));
            for (int hh = 0; hh < headsPerGroup; ++hh) {
                const int h = g * headsPerGroup + hh;
                float* out = dst + (int64_t(r) * d.H + h) * d.N;
                const float* b = bias + (int64_t(h) * d.R + r) * d.N;
                for (int n = 0; n < d.N; ++n) out[n] = row[n] * scale * normW[n] + b[n];
            }
        }
    }
}

}  // namespace

void mamba3_preprocess_forward(const ops::Mamba3Dims& d, const ops::Mamba3PreprocessParams& p,
                               const float* proj, int64_t T, float* q, float* k, float* dt,
                               float* adt, float* trap, float* dtheta) {
    const int64_t stride = d.dInProj();
    const int64_t qkStride = int64_t(d.R) * d.H * d.N;
    constexpr double pi = std::numbers::pi;
#pragma omp parallel for schedule(static) if (T > 16)
    for (int64_t t = 0; t < T; ++t) {
        const float* row = proj + t * stride;
        normBiasBroadcast(d, row + d.offC(), p.cNorm, p.cBias, q + t * qkStride);
        normBiasBroadcast(d, row + d.offB(), p.bNorm, p.bBias, k + t * qkStride);
        for (int h = 0; h < d.H; ++h) {
            const float dth = softplus(row[d.offDt() + h] + p.dtBias[h]);
            const float a = std::fmin(-heavyTail(row[d.offA() + h]), -d.aFloor);
            dt[t * d.H + h] = dth;
            adt[t * d.H + h] = a * dth;
            trap[t * d.H + h] = 1.0f / (1.0f + std::exp(-row[d.offTrap() + h]));
            float* th = dtheta + (t * d.H + h) * d.A;
            // π in double: fp32's π is 2.8e-8 too large, a bias every token adds up over a
            // long document (RELIABILITY NUM-2).
            for (int a2 = 0; a2 < d.A; ++a2)
                th[a2] = float(double(std::tanh(row[d.offAngles() + a2])) * pi * double(dth));
        }
    }
}

}  // namespace lectern::cpu
