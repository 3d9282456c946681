// CPU reference for the training scan: the recurrence of engine/ops/ssm_scan_common.h from a
// zero state, run through the engine's own ssm_step_forward one token at a time so that
// every state h_t is saved, and its backward through time (NOTES-ssm_scan.md). Per head,
// going back from t = T−1 with dh the gradient of h_t (double):
//   dh += Σ_r dy_r q_rᵀ;  dq_r += h_tᵀ dy_r;  dv_r += D·dy_r;  dD += Σ_r dy_r·v_r
//   dα = <dh, h_{t−1}>,  dβ = <dh, Σ_r v_{t−1,r} k_{t−1,r}ᵀ>,  dγ = <dh, Σ_r v_r k_rᵀ>
//   dv_r += γ dh k_r,  dk_r += γ dhᵀ v_r,  dv_{t−1,r} += β dh k_{t−1,r},  dk_{t−1,r} += β dhᵀ
//   v_{t−1,r} then dh <- α dh (the gradient of h_{t−1}), and α, β, γ back to adt, dt, trap.
// Heads are independent, so they run in parallel and never share a write.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "ops/ssm_step.h"
#include "training/backward/backward_ops.h"

namespace lectern::train {

void ssm_scan_forward_save(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in, int64_t T,
                           float* y, float* hs) {
    const int64_t qk = int64_t(d.R) * d.H * d.N, hsz = int64_t(d.H) * d.P * d.N;
    std::vector<float> ssm(size_t(hsz), 0.0f), kst(size_t(qk), 0.0f), vst(size_t(d.dInner()), 0.0f);
    const ops::SsmStateRef st{ssm.data(), kst.data(), vst.data()};
    for (int64_t t = 0; t < T; ++t) {
        ops::SsmScanInputs one = in;
        one.q = in.q + t * qk;
        one.k = in.k + t * qk;
        one.x = in.x + t * in.xStride;
        one.adt = in.adt + t * d.H;
        one.dt = in.dt + t * d.H;
        one.trap = in.trap + t * d.H;
        cpu::ssm_step_forward(d, one, 1, y + t * int64_t(d.R) * d.dInner(), st);
        std::memcpy(hs + t * hsz, ssm.data(), size_t(hsz) * sizeof(float));
    }
}

namespace {

struct HeadCtx {
    const ops::Mamba3Dims& d;
    const ops::SsmScanInputs& in;
    const float* hs;  // states [.., H, P, N]; slot i holds h_{base + i}
    const float* dy;
    const SsmScanGrads& g;
    int h;
    int64_t base = 0;
    int64_t qk() const { return int64_t(d.R) * d.H * d.N; }
    const float* state(int64_t t) const {
        return hs + (t - base) * int64_t(d.H) * d.P * d.N + int64_t(h) * d.P * d.N;
    }
    const float* kAt(int64_t t, int r) const {
        return in.k + t * qk() + (int64_t(r) * d.H + h) * d.N;
    }
    float mx(int r, int p) const {
        return in.mimoX ? in.mimoX[(int64_t(h) * d.R + r) * d.P + p] : 1.0f;
    }
    float v(int64_t t, int r, int p) const {
        return in.x[t * in.xStride + int64_t(h) * d.P + p] * mx(r, p);
    }
};

// The terms of one token; dV [T, R, P] collects the gradients of the values v_{t,r}.
void tokenBackward(const HeadCtx& c, int64_t t, std::vector<double>& dh, std::vector<double>& dV) {
    const ops::Mamba3Dims& d = c.d;
    const int P = d.P, N = d.N, h = c.h;
    const int64_t th = t * d.H + h;
    const float* ht = c.state(t);
    const float* hp = t > 0 ? c.state(t - 1) : nullptr;
    const double alpha = std::exp(double(c.in.adt[th])), dt = c.in.dt[th], tr = c.in.trap[th];
    const double beta = (1.0 - tr) * dt * alpha, gamma = tr * dt;
    for (int r = 0; r < d.R; ++r) {
        const float* q = c.in.q + t * c.qk() + (int64_t(r) * d.H + h) * N;
        float* dq = c.g.dq + t * c.qk() + (int64_t(r) * d.H + h) * N;
        const float* gy = c.dy + ((t * d.R + r) * d.H + h) * int64_t(P);
        for (int p = 0; p < P; ++p) {
            for (int n = 0; n < N; ++n) {
                dh[size_t(p * N + n)] += double(gy[p]) * q[n];
                dq[n] += float(double(ht[p * N + n]) * gy[p]);
            }
            dV[size_t((t * d.R + r) * P + p)] += double(c.in.D[h]) * gy[p];
            c.g.dD[h] += float(double(gy[p]) * c.v(t, r, p));
        }
    }
    double dAlpha = 0.0, dBeta = 0.0, dGamma = 0.0;
    if (hp != nullptr)
        for (int i = 0; i < P * N; ++i) dAlpha += dh[size_t(i)] * hp[i];
    for (int64_t s = t; s >= t - 1 && s >= 0; --s) {  // s = t: γ term, s = t − 1: β term
        const double coef = s == t ? gamma : beta;
        double& dcoef = s == t ? dGamma : dBeta;
        for (int r = 0; r < d.R; ++r) {
            const float* k = c.kAt(s, r);
            float* dk = c.g.dk + s * c.qk() + (int64_t(r) * d.H + h) * N;
            for (int p = 0; p < P; ++p) {
                double dhk = 0.0;
                for (int n = 0; n < N; ++n) dhk += dh[size_t(p * N + n)] * k[n];
                const double vp = c.v(s, r, p);
                dcoef += dhk * vp;
                dV[size_t((s * d.R + r) * P + p)] += coef * dhk;
                for (int n = 0; n < N; ++n) dk[n] += float(coef * dh[size_t(p * N + n)] * vp);
            }
        }
    }
    c.g.dadt[th] += float(dAlpha * alpha + dBeta * beta);
    c.g.ddt[th] += float(dBeta * (1.0 - tr) * alpha + dGamma * tr);
    c.g.dtrap[th] += float(-dBeta * dt * alpha + dGamma * dt);
    for (double& e : dh) e *= alpha;
}

// The values' gradients dV [T, R, P] of head h to dx and dmimoX.
void valuesBackward(const HeadCtx& c, int64_t T, const std::vector<double>& dV) {
    const ops::Mamba3Dims& d = c.d;
    const int h = c.h;
    for (int64_t t = 0; t < T; ++t) {
        for (int r = 0; r < d.R; ++r) {
            for (int p = 0; p < d.P; ++p) {
                const double gv = dV[size_t((t * d.R + r) * d.P + p)];
                const float x = c.in.x[t * c.in.xStride + int64_t(h) * d.P + p];
                c.g.dx[t * c.in.xStride + int64_t(h) * d.P + p] += float(gv * c.mx(r, p));
                if (c.g.dmimoX != nullptr)
                    c.g.dmimoX[(int64_t(h) * d.R + r) * d.P + p] += float(gv * x);
            }
        }
    }
}

// One token of the inputs, as a T = 1 view for ssm_step_forward.
ops::SsmScanInputs tokenInputs(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in, int64_t t) {
    const int64_t qk = int64_t(d.R) * d.H * d.N;
    ops::SsmScanInputs one = in;
    one.q = in.q + t * qk;
    one.k = in.k + t * qk;
    one.x = in.x + t * in.xStride;
    one.adt = in.adt + t * d.H;
    one.dt = in.dt + t * d.H;
    one.trap = in.trap + t * d.H;
    return one;
}

// The step's k/v state after token t − 1 is that token's own k and x (zeros before t = 0).
void restoreKv(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in, int64_t t, float* kst,
               float* vst) {
    const int64_t qk = int64_t(d.R) * d.H * d.N;
    if (t == 0) {
        std::fill(kst, kst + qk, 0.0f);
        std::fill(vst, vst + d.dInner(), 0.0f);
        return;
    }
    std::memcpy(kst, in.k + (t - 1) * qk, size_t(qk) * sizeof(float));
    std::memcpy(vst, in.x + (t - 1) * in.xStride, size_t(d.dInner()) * sizeof(float));
}

}  // namespace

void ssm_scan_backward(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in, const float* hs,
                       int64_t T, const float* dy, const SsmScanGrads& g) {
#pragma omp parallel for schedule(static) if (d.H > 1 && T * d.P * d.N > 65536)
    for (int h = 0; h < d.H; ++h) {
        const HeadCtx c{d, in, hs, dy, g, h};
        std::vector<double> dh(size_t(d.P) * d.N, 0.0), dV(size_t(T * d.R * d.P), 0.0);
        for (int64_t t = T - 1; t >= 0; --t) tokenBackward(c, t, dh, dV);
        valuesBackward(c, T, dV);
    }
}

int64_t ssm_scan_checkpoints(int64_t T, int64_t chunk) {
    return T <= 0 ? 0 : (T + chunk - 1) / chunk;
}

void ssm_scan_forward_checkpoint(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in, int64_t T,
                                 int64_t chunk, float* y, float* starts) {
    const int64_t qk = int64_t(d.R) * d.H * d.N, hsz = int64_t(d.H) * d.P * d.N;
    std::vector<float> ssm(size_t(hsz), 0.0f), kst(size_t(qk), 0.0f), vst(size_t(d.dInner()), 0.0f);
    const ops::SsmStateRef st{ssm.data(), kst.data(), vst.data()};
    for (int64_t c0 = 0; c0 < T; c0 += chunk) {
        std::memcpy(starts + (c0 / chunk) * hsz, ssm.data(), size_t(hsz) * sizeof(float));
        // A chunk in one call: the same per-token float operations as T = 1 calls, so the
        // backward's recomputation reproduces these states bit for bit.
        cpu::ssm_step_forward(d, tokenInputs(d, in, c0), std::min(chunk, T - c0),
                              y + c0 * int64_t(d.R) * d.dInner(), st);
    }
}

void ssm_scan_backward_recompute(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in,
                                 const float* starts, int64_t T, int64_t chunk, const float* dy,
                                 const SsmScanGrads& g) {
    const int64_t qk = int64_t(d.R) * d.H * d.N, hsz = int64_t(d.H) * d.P * d.N;
    // buf slot 0: the chunk's incoming state h_{c0−1}; slot 1 + i: h_{c0+i}.
    std::vector<float> buf(static_cast<size_t>((chunk + 1) * hsz));
    std::vector<float> kst(static_cast<size_t>(qk)), vst(static_cast<size_t>(d.dInner()));
    std::vector<float> yScratch(size_t(int64_t(d.R) * d.dInner()));
    std::vector<std::vector<double>> dh(size_t(d.H)), dV(size_t(d.H));
    for (int h = 0; h < d.H; ++h) {
        dh[size_t(h)].assign(size_t(d.P) * d.N, 0.0);
        dV[size_t(h)].assign(size_t(T * d.R * d.P), 0.0);
    }
    for (int64_t c = ssm_scan_checkpoints(T, chunk) - 1; c >= 0; --c) {
        const int64_t c0 = c * chunk, c1 = std::min(T, c0 + chunk);
        std::memcpy(buf.data(), starts + c * hsz, size_t(hsz) * sizeof(float));
        restoreKv(d, in, c0, kst.data(), vst.data());
        for (int64_t t = c0; t < c1; ++t) {
            float* slot = buf.data() + (t - c0 + 1) * hsz;
            std::memcpy(slot, slot - hsz, size_t(hsz) * sizeof(float));
            cpu::ssm_step_forward(d, tokenInputs(d, in, t), 1, yScratch.data(),
                                  ops::SsmStateRef{slot, kst.data(), vst.data()});
        }
#pragma omp parallel for schedule(static) if (d.H > 1 && (c1 - c0) * d.P * d.N > 65536)
        for (int h = 0; h < d.H; ++h) {
            HeadCtx ctx{d, in, buf.data(), dy, g, h};
            ctx.base = c0 - 1;
            for (int64_t t = c1 - 1; t >= c0; --t)
                tokenBackward(ctx, t, dh[size_t(h)], dV[size_t(h)]);
        }
    }
#pragma omp parallel for schedule(static) if (d.H > 1 && T * d.P > 65536)
    for (int h = 0; h < d.H; ++h)
        valuesBackward(HeadCtx{d, in, nullptr, dy, g, h}, T, dV[size_t(h)]);
}

}  // namespace lectern::train
