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

// Σ_n a[n]·b[n] with four partial sums: independent adds the compiler can pipeline and
// vectorize (one running double sum is bound by the add latency).
double dot(const double* a, const float* b, int n) {
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i], s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2], s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; ++i) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

// Per-head accumulators of one token (double; added to the float gradients once per token).
struct TokenScratch {
    std::vector<double> dq, dkT, dkP;  // [R, N] each
};

// The terms of one token; dV [T, R, P] collects the gradients of the values v_{t,r}. One
// sweep over the P rows of the state: each row of dh (N doubles, in L1) gets its dy·qᵀ
// terms, feeds dq, dα, dβ, dγ, dk and dv, and is decayed by α, before the next row.
void tokenBackward(const HeadCtx& c, int64_t t, std::vector<double>& dhv, std::vector<double>& dV,
                   TokenScratch& ts) {
    const ops::Mamba3Dims& d = c.d;
    const int P = d.P, N = d.N, R = d.R, h = c.h;
    const int64_t th = t * d.H + h;
    const float* ht = c.state(t);
    const float* hp = t > 0 ? c.state(t - 1) : nullptr;
    const double alpha = std::exp(double(c.in.adt[th])), dt = c.in.dt[th], tr = c.in.trap[th];
    const double beta = (1.0 - tr) * dt * alpha, gamma = tr * dt;
    const double Dh = c.in.D[h];
    ts.dq.assign(size_t(R * N), 0.0), ts.dkT.assign(size_t(R * N), 0.0);
    ts.dkP.assign(size_t(R * N), 0.0);
    double dAlpha = 0.0, dBeta = 0.0, dGamma = 0.0, dD = 0.0;
    for (int p = 0; p < P; ++p) {
        double* x = dhv.data() + size_t(p) * N;
        const float* hrow = ht + int64_t(p) * N;
        for (int r = 0; r < R; ++r) {
            const float* q = c.in.q + t * c.qk() + (int64_t(r) * d.H + h) * N;
            const double gy = c.dy[((t * R + r) * d.H + h) * int64_t(P) + p];
            double* dq = ts.dq.data() + size_t(r) * N;
            for (int n = 0; n < N; ++n) {
                x[n] += gy * q[n];
                dq[n] += double(hrow[n]) * gy;
            }
            const double vT = c.v(t, r, p);
            dV[size_t((t * R + r) * P + p)] += Dh * gy;
            dD += gy * vT;
        }
        if (hp != nullptr) dAlpha += dot(x, hp + int64_t(p) * N, N);
        for (int r = 0; r < R; ++r) {
            const double vT = c.v(t, r, p);
            const double dhk = dot(x, c.kAt(t, r), N);
            dGamma += dhk * vT;
            dV[size_t((t * R + r) * P + p)] += gamma * dhk;
            double* dk = ts.dkT.data() + size_t(r) * N;
            for (int n = 0; n < N; ++n) dk[n] += x[n] * vT;
            if (t == 0) continue;
            const double vP = c.v(t - 1, r, p);
            const double dhkP = dot(x, c.kAt(t - 1, r), N);
            dBeta += dhkP * vP;
            dV[size_t(((t - 1) * R + r) * P + p)] += beta * dhkP;
            double* dkp = ts.dkP.data() + size_t(r) * N;
            for (int n = 0; n < N; ++n) dkp[n] += x[n] * vP;
        }
        for (int n = 0; n < N; ++n) x[n] *= alpha;  // now the gradient of h_{t−1}'s row
    }
    for (int r = 0; r < R; ++r) {
        float* dq = c.g.dq + t * c.qk() + (int64_t(r) * d.H + h) * N;
        float* dk = c.g.dk + t * c.qk() + (int64_t(r) * d.H + h) * N;
        for (int n = 0; n < N; ++n) {
            dq[n] += float(ts.dq[size_t(r * N + n)]);
            dk[n] += float(gamma * ts.dkT[size_t(r * N + n)]);
        }
        if (t == 0) continue;
        float* dkp = c.g.dk + (t - 1) * c.qk() + (int64_t(r) * d.H + h) * N;
        for (int n = 0; n < N; ++n) dkp[n] += float(beta * ts.dkP[size_t(r * N + n)]);
    }
    c.g.dD[h] += float(dD);
    c.g.dadt[th] += float(dAlpha * alpha + dBeta * beta);
    c.g.ddt[th] += float(dBeta * (1.0 - tr) * alpha + dGamma * tr);
    c.g.dtrap[th] += float(-dBeta * dt * alpha + dGamma * dt);
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

struct RecomputeScratch {
    std::vector<float> buf, kst, vst, y;
    std::vector<std::vector<double>> dh, dV;  // per head
};

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
        TokenScratch ts;
        for (int64_t t = T - 1; t >= 0; --t) tokenBackward(c, t, dh, dV, ts);
        valuesBackward(c, T, dV);
    }
}

int64_t ssm_scan_checkpoints(int64_t T, int64_t chunk) {
    return T <= 0 ? 0 : (T + chunk - 1) / chunk;
}

void ssm_scan_forward_checkpoint(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in, int64_t T,
                                 int64_t chunk, float* y, float* starts) {
    const int64_t qk = int64_t(d.R) * d.H * d.N, hsz = int64_t(d.H) * d.P * d.N;
    // Kept between calls (a row per thread calls this per layer; see model_train.cpp).
    thread_local std::vector<float> ssm, kst, vst;
    ssm.assign(size_t(hsz), 0.0f), kst.assign(size_t(qk), 0.0f),
        vst.assign(size_t(d.dInner()), 0.0f);
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
    // Scratch kept between calls (a training step calls this per layer and row): fresh
    // multi-megabyte vectors cost a memset and page faults each time. buf needs no zeroing
    // (every slot is written before it is read).
    // buf slot 0: the chunk's incoming state h_{c0−1}; slot 1 + i: h_{c0+i}.
    thread_local RecomputeScratch scratch;
    RecomputeScratch& s = scratch;  // a plain reference: the OpenMP threads share this one
    s.buf.resize(std::max(s.buf.size(), size_t((chunk + 1) * hsz)));
    s.kst.resize(size_t(qk)), s.vst.resize(size_t(d.dInner()));
    s.y.resize(size_t(int64_t(d.R) * d.dInner()));
    s.dh.resize(size_t(d.H)), s.dV.resize(size_t(d.H));
    for (int h = 0; h < d.H; ++h) {
        s.dh[size_t(h)].assign(size_t(d.P) * d.N, 0.0);
        s.dV[size_t(h)].assign(size_t(T * d.R * d.P), 0.0);
    }
    for (int64_t c = ssm_scan_checkpoints(T, chunk) - 1; c >= 0; --c) {
        const int64_t c0 = c * chunk, c1 = std::min(T, c0 + chunk);
        std::memcpy(s.buf.data(), starts + c * hsz, size_t(hsz) * sizeof(float));
        restoreKv(d, in, c0, s.kst.data(), s.vst.data());
        for (int64_t t = c0; t < c1; ++t) {
            float* slot = s.buf.data() + (t - c0 + 1) * hsz;
            std::memcpy(slot, slot - hsz, size_t(hsz) * sizeof(float));
            cpu::ssm_step_forward(d, tokenInputs(d, in, t), 1, s.y.data(),
                                  ops::SsmStateRef{slot, s.kst.data(), s.vst.data()});
        }
#pragma omp parallel for schedule(static) if (d.H > 1 && (c1 - c0) * d.P * d.N > 65536)
        for (int h = 0; h < d.H; ++h) {
            HeadCtx ctx{d, in, s.buf.data(), dy, g, h};
            ctx.base = c0 - 1;
            TokenScratch ts;
            for (int64_t t = c1 - 1; t >= c0; --t)
                tokenBackward(ctx, t, s.dh[size_t(h)], s.dV[size_t(h)], ts);
        }
    }
#pragma omp parallel for schedule(static) if (d.H > 1 && T * d.P > 65536)
    for (int h = 0; h < d.H; ++h)
        valuesBackward(HeadCtx{d, in, nullptr, dy, g, h}, T, s.dV[size_t(h)]);
}

}  // namespace lectern::train
