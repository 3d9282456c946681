// CPU reference backward of mamba3_gate_forward (engine/ops/mamba3_gate.h)
// (NOTES-mamba3_gate.md). Per token, head and rank, with n_r the (optionally head-wise
// RMS-normed) y_r, z_r = z ⊙ mimo_z[h, r], s_r = silu(z_r), out += mimo_o ⊙ n_r ⊙ s_r:
//   dmimo_o += dout ⊙ n_r ⊙ s_r;  g = dout ⊙ mimo_o
//   dn_r = g ⊙ s_r;  dz_r = g ⊙ n_r ⊙ silu'(z_r);  dz += dz_r ⊙ mimo_z;  dmimo_z += dz_r ⊙ z
//   dn_r -> dy_r (and dnormW) through rmsnorm_backward over the head's P channels.
#include <cmath>
#include <vector>

#include "training/backward/backward_ops.h"

namespace lectern::train {

void mamba3_gate_backward(const ops::Mamba3Dims& d, const ops::Mamba3GateParams& prm,
                          const Mamba3GateGrads& g, const float* y, const float* z, int64_t zStride,
                          int64_t T, const float* dout, float* dy, float* dz) {
    std::vector<float> nv(size_t(d.P)), dn(size_t(d.P));
    for (int64_t t = 0; t < T; ++t) {
        for (int h = 0; h < d.H; ++h) {
            const float* go = dout + t * d.dInner() + int64_t(h) * d.P;
            const float* zh = z + t * zStride + int64_t(h) * d.P;
            float* dzh = dz + t * zStride + int64_t(h) * d.P;
            for (int r = 0; r < d.R; ++r) {
                const float* yr = y + ((t * d.R + r) * d.H + h) * int64_t(d.P);
                float* dyr = dy + ((t * d.R + r) * d.H + h) * int64_t(d.P);
                const float* nw = prm.normW ? prm.normW + int64_t(h) * d.P : nullptr;
                float scale = 1.0f;
                if (nw != nullptr) {
                    double ss = 0.0;
                    for (int p = 0; p < d.P; ++p) ss += double(yr[p]) * yr[p];
                    scale = float(1.0 / std::sqrt(ss / d.P + double(d.eps)));
                }
                const int64_t wOff = (int64_t(h) * d.R + r) * d.P;
                for (int p = 0; p < d.P; ++p) {
                    nv[size_t(p)] = nw ? yr[p] * scale * nw[p] : yr[p];
                    const float mz = prm.mimoZ ? prm.mimoZ[wOff + p] : 1.0f;
                    const float zr = zh[p] * mz;
                    const float sg = 1.0f / (1.0f + std::exp(-zr));
                    const float s = zr * sg;
                    const float gv = prm.mimoO ? go[p] * prm.mimoO[wOff + p] : go[p];
                    if (g.mimoO != nullptr) g.mimoO[wOff + p] += go[p] * nv[size_t(p)] * s;
                    dn[size_t(p)] = gv * s;
                    const float dzr = gv * nv[size_t(p)] * sg * (1.0f + zr * (1.0f - sg));
                    dzh[p] += dzr * mz;
                    if (g.mimoZ != nullptr) g.mimoZ[wOff + p] += dzr * zh[p];
                }
                if (nw != nullptr) {
                    rmsnorm_backward(dyr, g.normW + int64_t(h) * d.P, dn.data(), yr, nw, 1, d.P,
                                     d.eps);
                } else {
                    for (int p = 0; p < d.P; ++p) dyr[p] += dn[size_t(p)];
                }
            }
        }
    }
}

}  // namespace lectern::train
