// CPU reference backward of rotary_angles_forward (engine/ops/rotary_angles.h)
// (NOTES-rotary_angles.md). The angles θ_t = wrap(θ_{t−1} + dθ_t) are replayed with the
// forward's own operations (cpu::advanceAngle), so cos/sin match it bit for bit. For a rotated pair
// (u', w') = R(θ)(u, w) with incoming gradient (gu, gw):
//   ∂L/∂θ_t += gw·u' − gu·w'          (summed over q, k and the R ranks)
//   (gu, gw) <- R(−θ)(gu, gw)          (the gradient of the unrotated pair)
// and since θ_t is a running sum of the increments (the wrap has slope 1 almost
// everywhere), ∂L/∂dθ_s = Σ_{t>=s} ∂L/∂θ_t: a reverse cumulative sum.
#include <cmath>
#include <vector>

#include "ops/rotary_angles.h"
#include "training/backward/backward_ops.h"

namespace lectern::train {
namespace {

// Adds the pairs' angle gradients into dth[A] and un-rotates g in place.
void pairBackward(const ops::Mamba3Dims& d, const float* rotated, float* g, const float* cosv,
                  const float* sinv, double* dth) {
    for (int a = 0; a < d.A; ++a) {
        const int i0 = d.mimo ? a : 2 * a;
        const int i1 = d.mimo ? a + d.N / 2 : 2 * a + 1;
        const float gu = g[i0], gw = g[i1];
        dth[a] += double(gw) * rotated[i0] - double(gu) * rotated[i1];
        g[i0] = gu * cosv[a] + gw * sinv[a];
        g[i1] = -gu * sinv[a] + gw * cosv[a];
    }
}

}  // namespace

void rotary_angles_backward(const ops::Mamba3Dims& d, const float* q, const float* k,
                            const float* angle0, const float* dtheta, int64_t T, float* dq,
                            float* dk, float* ddtheta) {
    const int64_t qkStride = int64_t(d.R) * d.H * d.N;
    for (int h = 0; h < d.H; ++h) {
        // Replay the forward's angles for this head.
        std::vector<float> theta(size_t(T * d.A));
        std::vector<double> cur(size_t(d.A), 0.0);
        if (angle0 != nullptr)
            for (int a = 0; a < d.A; ++a) cur[size_t(a)] = angle0[int64_t(h) * d.A + a];
        for (int64_t t = 0; t < T; ++t) {
            const float* inc = dtheta + (t * d.H + h) * d.A;
            for (int a = 0; a < d.A; ++a) {
                cur[size_t(a)] = cpu::advanceAngle(cur[size_t(a)], inc[a]);
                theta[size_t(t * d.A + a)] = float(cur[size_t(a)]);
            }
        }
        std::vector<double> acc(size_t(d.A), 0.0), dth(size_t(d.A));
        std::vector<float> cosv(size_t(d.A)), sinv(size_t(d.A));
        for (int64_t t = T - 1; t >= 0; --t) {
            for (int a = 0; a < d.A; ++a) {
                cosv[size_t(a)] = std::cos(theta[size_t(t * d.A + a)]);
                sinv[size_t(a)] = std::sin(theta[size_t(t * d.A + a)]);
                dth[size_t(a)] = 0.0;
            }
            for (int r = 0; r < d.R; ++r) {
                const int64_t off = t * qkStride + (int64_t(r) * d.H + h) * d.N;
                pairBackward(d, q + off, dq + off, cosv.data(), sinv.data(), dth.data());
                pairBackward(d, k + off, dk + off, cosv.data(), sinv.data(), dth.data());
            }
            float* out = ddtheta + (t * d.H + h) * d.A;
            for (int a = 0; a < d.A; ++a) {
                acc[size_t(a)] += dth[size_t(a)];
                out[a] += float(acc[size_t(a)]);
            }
        }
    }
}

}  // namespace lectern::train
