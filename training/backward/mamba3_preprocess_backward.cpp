// CPU reference backward of mamba3_preprocess_forward (engine/ops/mamba3_preprocess.h).
// Per token and head (NOTES-mamba3_preprocess.md):
//   dt = softplus(u), u = dd_dt + dt_bias      du = ddt_total · σ(u)  (1 above softplus's 20)
//   ddt_total = ddt + dadt·a + Σ_a ddθ_a · tanh(ang_a)·π     (dt feeds adt and every dθ)
//   a = min(−heavy(v), −A_floor)               dv = −dadt·dt·heavy'(v) where the clamp is off
//   trap = σ(w)                                dw = dtrap · trap·(1 − trap)
//   dθ_a = tanh(ang_a)·π·dt                    dang_a += ddθ_a · π·dt·(1 − tanh²)
// and B/C: the per-head gradients of one group sum into the shared normed row (broadcast),
// each head's own gradient is its bias's, then rmsnorm_backward over N.
#include <cmath>
#include <numbers>
#include <vector>

#include "training/backward/backward_ops.h"

namespace lectern::train {
namespace {

// dsrc (one token's B or C segment, [R, G, N]) += from dout [R, H, N].
void normBiasBroadcastBackward(const ops::Mamba3Dims& d, const float* src, const float* normW,
                               const float* dout, float* dsrc, float* dNormW, float* dBias) {
    const int headsPerGroup = d.H / d.G;
    std::vector<float> dn(size_t(d.N));
    for (int r = 0; r < d.R; ++r) {
        for (int g = 0; g < d.G; ++g) {
            std::fill(dn.begin(), dn.end(), 0.0f);
            for (int hh = 0; hh < headsPerGroup; ++hh) {
                const int h = g * headsPerGroup + hh;
                const float* go = dout + (int64_t(r) * d.H + h) * d.N;
                float* db = dBias + (int64_t(h) * d.R + r) * d.N;
                for (int n = 0; n < d.N; ++n) {
                    dn[size_t(n)] += go[n];
                    db[n] += go[n];
                }
            }
            const int64_t off = (int64_t(r) * d.G + g) * d.N;
            rmsnorm_backward(dsrc + off, dNormW, dn.data(), src + off, normW, 1, d.N, d.eps);
        }
    }
}

float heavyTail(float u) {
    return u >= 0.0f ? 1.0f + u : 1.0f / (1.0f - u);
}

float heavyTailSlope(float u) {
    return u >= 0.0f ? 1.0f : 1.0f / ((1.0f - u) * (1.0f - u));
}

}  // namespace

void mamba3_preprocess_backward(const ops::Mamba3Dims& d, const ops::Mamba3PreprocessParams& p,
                                const Mamba3PreprocessGrads& g, const float* proj, int64_t T,
                                const float* dq, const float* dk, const float* ddt,
                                const float* dadt, const float* dtrap, const float* ddtheta,
                                float* dproj) {
    const int64_t stride = d.dInProj();
    const int64_t qkStride = int64_t(d.R) * d.H * d.N;
    const float pi = std::numbers::pi_v<float>;
    for (int64_t t = 0; t < T; ++t) {
        const float* row = proj + t * stride;
        float* drow = dproj + t * stride;
        normBiasBroadcastBackward(d, row + d.offC(), p.cNorm, dq + t * qkStride, drow + d.offC(),
                                  g.cNorm, g.cBias);
        normBiasBroadcastBackward(d, row + d.offB(), p.bNorm, dk + t * qkStride, drow + d.offB(),
                                  g.bNorm, g.bBias);
        for (int h = 0; h < d.H; ++h) {
            const int64_t th = t * d.H + h;
            const float u = row[d.offDt() + h] + p.dtBias[h];
            const float dt = u > 20.0f ? u : std::log1p(std::exp(u));
            const float v = row[d.offA() + h];
            const bool clamped = !(-heavyTail(v) < -d.aFloor);
            const float a = clamped ? -d.aFloor : -heavyTail(v);
            double ddtTotal = double(ddt[th]) + double(dadt[th]) * a;
            const float* gth = ddtheta + th * d.A;
            for (int k = 0; k < d.A; ++k) {
                const float tn = std::tanh(row[d.offAngles() + k]);
                ddtTotal += double(gth[k]) * tn * pi;
                drow[d.offAngles() + k] += gth[k] * pi * dt * (1.0f - tn * tn);
            }
            const float su = u > 20.0f ? 1.0f : 1.0f / (1.0f + std::exp(-u));
            const float du = float(ddtTotal) * su;
            drow[d.offDt() + h] += du;
            g.dtBias[h] += du;
            if (!clamped) drow[d.offA() + h] += -dadt[th] * dt * heavyTailSlope(v);
            const float s = 1.0f / (1.0f + std::exp(-row[d.offTrap() + h]));
            drow[d.offTrap() + h] += dtrap[th] * s * (1.0f - s);
        }
    }
}

}  // namespace lectern::train
