// The double-precision token-by-token model of reference_fp64.h.
#include "reference_fp64.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>

#include "io/safetensors.h"

namespace lectern::test {
namespace {

constexpr double kPi = std::numbers::pi;

std::vector<double> widen(const float* p, size_t n) {
    return std::vector<double>(p, p + n);
}

// out[o] = Σ_i W[o, i] in[i] (W row-major [rows, cols], as torch's Linear weight).
void matVec(const std::vector<float>& W, const std::vector<double>& in, int64_t rows,
            std::vector<double>& out) {
    const int64_t cols = int64_t(in.size());
    out.assign(size_t(rows), 0.0);
    for (int64_t o = 0; o < rows; ++o) {
        double acc = 0.0;
        for (int64_t i = 0; i < cols; ++i) acc += double(W[size_t(o * cols + i)]) * in[size_t(i)];
        out[size_t(o)] = acc;
    }
}

// x / rms(x) over n values at x, times w (or 1).
void rmsScale(const double* x, int64_t n, double eps, const float* w, double* out) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
    const double s = 1.0 / std::sqrt(ss / double(n) + eps);
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * s * (w ? double(w[i]) : 1.0);
}

// Round to nearest even bf16 (from the float the GPU holds), back in a float.
float bf16Value(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
    std::memcpy(&x, &u, 4);
    return x;
}

void roundToBf16(std::vector<float>& v) {
    for (float& x : v) x = bf16Value(x);
}

double softplus(double u) {
    return u > 20.0 ? u : std::log1p(std::exp(u));
}

}  // namespace

Expected<ReferenceFp64> ReferenceFp64::load(const std::string& dir, bool bf16Projections) {
    auto cfg = model::configLoad(dir + "/config.json");
    if (!cfg) return cfg.status();
    if (cfg->mlpHidden() > 0)
        return Status::error("ReferenceFp64: models with an MLP are not covered");
    auto file = io::safetensorsReadModel(dir);
    if (!file) return file.status();
    auto w = model::weightsFromTensors(*cfg, file->tensors, dir);
    if (!w) return w.status();
    ReferenceFp64 r;
    r.cfg_ = *cfg;
    r.w_ = std::move(*w);
    r.bf16_ = bf16Projections;
    if (bf16Projections)
        for (model::LayerWeights& L : r.w_.layers) {
            roundToBf16(L.inProj);
            roundToBf16(L.outProj);
        }
    const ops::Mamba3Dims d = r.cfg_.dims();
    r.layers_.resize(size_t(r.cfg_.nLayer));
    for (Layer& L : r.layers_) {
        L.angle.assign(size_t(d.H) * d.A, 0.0);
        L.ssm.assign(size_t(d.H) * d.P * d.N, 0.0);
        L.k.assign(size_t(d.R) * d.H * d.N, 0.0);
        L.v.assign(size_t(d.H) * d.P, 0.0);
    }
    return r;
}

void ReferenceFp64::projectionInput(std::vector<double>& v) const {
    if (bf16_)
        for (double& x : v) x = bf16Value(float(x));
}

// One token through mixer i: normed [D] -> out [D], advancing layer i's state.
void ReferenceFp64::layer(int i, std::vector<double>& normed, std::vector<double>& out) {
    const ops::Mamba3Dims d = cfg_.dims();
    const model::LayerWeights& W = w_.layers[size_t(i)];
    Layer& S = layers_[size_t(i)];
    std::vector<double> proj;
    projectionInput(normed);
    matVec(W.inProj, normed, d.dInProj(), proj);
    const int R = d.R, H = d.H, P = d.P, N = d.N, perGroup = d.H / d.G;

    // q (from C) and k (from B): RMSNorm over N per (r, g), weight, the head's bias.
    std::vector<double> q(size_t(R) * H * N), k(q.size()), row(static_cast<size_t>(N));
    for (int r = 0; r < R; ++r)
        for (int g = 0; g < d.G; ++g)
            for (int h = g * perGroup; h < (g + 1) * perGroup; ++h) {
                const size_t at = (size_t(r) * H + size_t(h)) * N;
                const size_t bias = (size_t(h) * R + size_t(r)) * N;
                rmsScale(&proj[size_t(d.offC() + (r * d.G + g) * N)], N, d.eps, W.cNorm.data(),
                         row.data());
                for (int n = 0; n < N; ++n) q[at + n] = row[size_t(n)] + W.cBias[bias + n];
                rmsScale(&proj[size_t(d.offB() + (r * d.G + g) * N)], N, d.eps, W.bNorm.data(),
                         row.data());
                for (int n = 0; n < N; ++n) k[at + n] = row[size_t(n)] + W.bBias[bias + n];
            }

    std::vector<double> y(size_t(R) * H * P), vPrev(size_t(R) * P), vCur(size_t(R) * P);
    for (int h = 0; h < H; ++h) {
        const double dt = softplus(proj[size_t(d.offDt() + h)] + W.dtBias[size_t(h)]);
        const double u = proj[size_t(d.offA() + h)];
        const double a = std::min(-(u >= 0.0 ? 1.0 + u : 1.0 / (1.0 - u)), -double(d.aFloor));
        const double trap = 1.0 / (1.0 + std::exp(-proj[size_t(d.offTrap() + h)]));
        // The running angles, then q and k rotated by them (pairs (2a, 2a+1) for SISO,
        // (a, a + N/2) for MIMO).
        for (int an = 0; an < d.A; ++an) {
            double& th = S.angle[size_t(h) * d.A + an];
            th += std::tanh(proj[size_t(d.offAngles() + an)]) * kPi * dt;
            th -= 2.0 * kPi * std::floor(th / (2.0 * kPi));
            const double c = std::cos(th), s = std::sin(th);
            const int i0 = d.mimo ? an : 2 * an, i1 = d.mimo ? an + N / 2 : 2 * an + 1;
            for (int r = 0; r < R; ++r)
                for (std::vector<double>* v : {&q, &k}) {
                    double* e = v->data() + (size_t(r) * H + size_t(h)) * N;
                    const double x0 = e[i0], x1 = e[i1];
                    e[i0] = x0 * c - x1 * s;
                    e[i1] = x0 * s + x1 * c;
                }
        }
        // The recurrence of ops/ssm_scan_common.h.
        const double alpha = std::exp(a * dt), beta = (1.0 - trap) * dt * alpha, gamma = trap * dt;
        const double* x = &proj[size_t(d.offX() + int64_t(h) * P)];
        for (int r = 0; r < R; ++r)
            for (int p = 0; p < P; ++p) {
                const double m =
                    W.mimoX.empty() ? 1.0 : W.mimoX[(size_t(h) * R + size_t(r)) * P + size_t(p)];
                vPrev[size_t(r) * P + p] = S.v[size_t(h) * P + p] * m;
                vCur[size_t(r) * P + p] = x[p] * m;
            }
        for (int p = 0; p < P; ++p) {
            double* Sp = &S.ssm[(size_t(h) * P + size_t(p)) * N];
            for (int n = 0; n < N; ++n) {
                double acc = alpha * Sp[n];
                for (int r = 0; r < R; ++r) {
                    const size_t kn = (size_t(r) * H + size_t(h)) * N + n;
                    acc += beta * vPrev[size_t(r) * P + p] * S.k[kn] +
                           gamma * vCur[size_t(r) * P + p] * k[kn];
                }
                Sp[n] = acc;
            }
            for (int r = 0; r < R; ++r) {
                double acc = W.D[size_t(h)] * vCur[size_t(r) * P + p];
                for (int n = 0; n < N; ++n) acc += Sp[n] * q[(size_t(r) * H + size_t(h)) * N + n];
                y[(size_t(r) * H + size_t(h)) * P + p] = acc;
            }
        }
        for (int r = 0; r < R; ++r)
            std::copy_n(&k[(size_t(r) * H + size_t(h)) * N], N,
                        &S.k[(size_t(r) * H + size_t(h)) * N]);
        std::copy_n(x, P, &S.v[size_t(h) * P]);
    }

    // The gate: y (RMSNorm over P per (r, h) with outNorm, if the model has it) times
    // silu(z), summed over r through mimoO; then out_proj.
    std::vector<double> gated(size_t(d.dInner()), 0.0), yn(static_cast<size_t>(P));
    for (int h = 0; h < H; ++h)
        for (int r = 0; r < R; ++r) {
            const double* yr = &y[(size_t(r) * H + size_t(h)) * P];
            if (W.outNorm.empty())
                std::copy_n(yr, P, yn.data());
            else
                rmsScale(yr, P, d.eps, W.outNorm.data() + size_t(h) * P, yn.data());
            for (int p = 0; p < P; ++p) {
                const size_t m = (size_t(h) * R + size_t(r)) * P + size_t(p);
                double z = proj[size_t(d.offZ() + int64_t(h) * P + p)];
                if (!W.mimoZ.empty()) z *= W.mimoZ[m];
                const double v = yn[size_t(p)] * z / (1.0 + std::exp(-z));
                gated[size_t(h) * P + p] += W.mimoO.empty() ? v : v * W.mimoO[m];
            }
        }
    projectionInput(gated);
    matVec(W.outProj, gated, cfg_.dModel, out);
}

void ReferenceFp64::read(const int32_t* ids, int64_t T) {
    const int64_t D = cfg_.dModel;
    std::vector<double> normed(static_cast<size_t>(D)), delta;
    for (int64_t t = 0; t < T; ++t) {
        std::vector<double> residual =
            widen(w_.embedding.data() + size_t(ids[t]) * size_t(D), size_t(D));
        for (int i = 0; i < cfg_.nLayer; ++i) {
            if (i > 0)
                for (int64_t j = 0; j < D; ++j) residual[size_t(j)] += delta[size_t(j)];
            rmsScale(residual.data(), D, cfg_.normEps, w_.layers[size_t(i)].norm.data(),
                     normed.data());
            layer(i, normed, delta);
        }
    }
    position_ += T;
}

void ReferenceFp64::copyTo(DocumentState& out) const {
    for (size_t i = 0; i < layers_.size(); ++i) {
        LayerState& o = out.layers()[i];
        const Layer& L = layers_[i];
        std::copy(L.angle.begin(), L.angle.end(), o.angle.begin());
        std::copy(L.ssm.begin(), L.ssm.end(), o.ssm.begin());
        std::copy(L.k.begin(), L.k.end(), o.k.begin());
        std::copy(L.v.begin(), L.v.end(), o.v.begin());
    }
    out.setPosition(position_);
}

}  // namespace lectern::test
