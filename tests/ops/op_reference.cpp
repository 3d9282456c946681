// Float64 oracles for the SSM recurrence and the output gate (see op_reference.h).
#include "op_reference.h"

#include <cmath>

namespace lectern::test {

std::vector<double> ssmReference(const ops::Mamba3Dims& d, const SsmRefInputs& in, int64_t T,
                                 SsmRefState& st) {
    const int H = d.H, P = d.P, N = d.N, R = d.R;
    std::vector<double> y(size_t(T) * R * H * P);
    auto up = [&](int h, int r, int p, double xv) {
        return in.mimoX.empty() ? xv : xv * in.mimoX[(size_t(h) * R + r) * P + p];
    };
    for (int64_t t = 0; t < T; ++t) {
        for (int h = 0; h < H; ++h) {
            const double alpha = std::exp(double(in.adt[t * H + h]));
            const double dt = in.dt[t * H + h], tr = in.trap[t * H + h];
            const double beta = (1 - tr) * dt * alpha, gamma = tr * dt;
            for (int p = 0; p < P; ++p) {
                for (int n = 0; n < N; ++n) {
                    double s = alpha * st.ssm[(size_t(h) * P + p) * N + n];
                    for (int r = 0; r < R; ++r) {
                        const size_t kn = (size_t(r) * H + h) * N + n;
                        s += beta * up(h, r, p, st.v[size_t(h) * P + p]) * st.k[kn];
                        s += gamma * up(h, r, p, in.x[size_t(t) * H * P + size_t(h) * P + p]) *
                             in.k[size_t(t) * R * H * N + kn];
                    }
                    st.ssm[(size_t(h) * P + p) * N + n] = s;
                }
            }
            for (int r = 0; r < R; ++r) {
                for (int p = 0; p < P; ++p) {
                    double acc = 0;
                    for (int n = 0; n < N; ++n)
                        acc += st.ssm[(size_t(h) * P + p) * N + n] *
                               in.q[size_t(t) * R * H * N + (size_t(r) * H + h) * N + n];
                    const double xv = in.x[size_t(t) * H * P + size_t(h) * P + p];
                    y[((size_t(t) * R + r) * H + h) * P + p] = acc + in.D[h] * up(h, r, p, xv);
                }
                for (int n = 0; n < N; ++n)
                    st.k[(size_t(r) * H + h) * N + n] =
                        in.k[size_t(t) * R * H * N + (size_t(r) * H + h) * N + n];
            }
            for (int p = 0; p < P; ++p)
                st.v[size_t(h) * P + p] = in.x[size_t(t) * H * P + size_t(h) * P + p];
        }
    }
    return y;
}

std::vector<double> gateReference(const ops::Mamba3Dims& d, const std::vector<float>& y,
                                  const std::vector<float>& z, const std::vector<float>& mimoZ,
                                  const std::vector<float>& mimoO, const std::vector<float>& normW,
                                  int64_t T) {
    const int H = d.H, P = d.P, R = d.R;
    std::vector<double> out(size_t(T) * H * P, 0.0);
    for (int64_t t = 0; t < T; ++t)
        for (int h = 0; h < H; ++h)
            for (int r = 0; r < R; ++r) {
                const float* yr = &y[((size_t(t) * R + r) * H + h) * P];
                double scale = 1.0;
                if (!normW.empty()) {
                    double ss = 0;
                    for (int p = 0; p < P; ++p) ss += double(yr[p]) * yr[p];
                    scale = 1.0 / std::sqrt(ss / P + d.eps);
                }
                for (int p = 0; p < P; ++p) {
                    const size_t w = (size_t(h) * R + r) * P + p;
                    double v = yr[p] * scale * (normW.empty() ? 1.0 : normW[size_t(h) * P + p]);
                    double zr = z[size_t(t) * H * P + size_t(h) * P + p];
                    if (!mimoZ.empty()) zr *= mimoZ[w];
                    v *= zr / (1.0 + std::exp(-zr));
                    out[size_t(t) * H * P + size_t(h) * P + p] += mimoO.empty() ? v : v * mimoO[w];
                }
            }
    return out;
}

}  // namespace lectern::test
