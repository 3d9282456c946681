// Op rotary_angles_forward: accumulate the data-dependent rotary angles and rotate q, k.
//   angleState fp32 [H, A], in/out: for each token t in order,
//       theta = wrap(theta + dtheta[t]),  wrap(u) = u - 2π·floor(u / 2π)  (in [0, 2π))
//   q, k fp32 [T, R, H, N], rotated in place by that token's theta[h, a]:
//       SISO (d.mimo false): pair (2a, 2a+1);  MIMO: pair (a, a + N/2);  for a < A,
//       (u, w) -> (u·cos − w·sin, u·sin + w·cos). Dimensions past the pairs pass through.
// The step and the chunked forms share this op, so their angles agree bit for bit; the
// sequential wrap keeps fp32 angles accurate however long the document.
#pragma once

#include <cstdint>

#include "ops/mamba3_dims.h"

namespace lectern::cpu {

void rotary_angles_forward(const ops::Mamba3Dims& d, float* q, float* k, float* angleState,
                           const float* dtheta, int64_t T);

}  // namespace lectern::cpu
