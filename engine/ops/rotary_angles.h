// Op rotary_angles_forward: accumulate the data-dependent rotary angles and rotate q, k.
//   angleState fp32 [H, A], in/out: for each token t in order,
//       theta = wrap(theta + dtheta[t]),  wrap(u) = u - 2π·floor(u / 2π)  (in [0, 2π))
//   q, k fp32 [T, R, H, N], rotated in place by that token's theta[h, a]:
//       SISO (d.mimo false): pair (2a, 2a+1);  MIMO: pair (a, a + N/2);  for a < A,
//       (u, w) -> (u·cos − w·sin, u·sin + w·cos). Dimensions past the pairs pass through.
// The step and the chunked forms share this op, so their angles agree bit for bit. Within
// a call the angle runs in double (advanceAngle) and is rounded to the fp32 state once at
// the end: summed and wrapped in fp32, fp32's own 2π (1.7e-7 rad off) and the per-token
// rounding drifted the angle by ~6.5e-3 rad over 1M tokens (RELIABILITY NUM-2,
// tests/engine/test_long_drift.cpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

#include "ops/mamba3_dims.h"

namespace lectern::cpu {

// One token's step of a running angle: wrap(theta + inc) in double. Shared with the
// training backward, which replays the forward's angles bit for bit.
inline double advanceAngle(double theta, float inc) {
    constexpr double twoPi = 2.0 * std::numbers::pi;
    const double u = theta + double(inc);
    return u - twoPi * std::floor(u / twoPi);
}

void rotary_angles_forward(const ops::Mamba3Dims& d, float* q, float* k, float* angleState,
                           const float* dtheta, int64_t T);

}  // namespace lectern::cpu
