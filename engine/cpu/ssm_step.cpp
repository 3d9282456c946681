// CPU reference for ssm_step_forward (engine/ops/ssm_step.h): the recurrence token by
// token, parallel over heads. Each head's state is independent, so heads never share
// writes.
#include "ops/ssm_step.h"

#include <cmath>
#include <vector>

namespace lectern::cpu {
namespace {

// v_r[p] = x[p] * mimoX[h, r, p] for r < R (mimoX null: v_r = x). out [R, P].
void upProject(const ops::Mamba3Dims& d, const float* mimoX, int h, const float* x, float* out) {
    for (int r = 0; r < d.R; ++r) {
        const float* w = mimoX ? mimoX + (int64_t(h) * d.R + r) * d.P : nullptr;
        for (int p = 0; p < d.P; ++p) out[r * d.P + p] = w ? x[p] * w[p] : x[p];
    }
}

}  // namespace

void ssm_step_forward(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in, int64_t T, float* y,
                      const ops::SsmStateRef& st) {
    const int64_t qkStride = int64_t(d.R) * d.H * d.N;
#pragma omp parallel for schedule(static) if (d.H > 1 && int64_t(d.P) * d.N * T > 4096)
    for (int h = 0; h < d.H; ++h) {
        std::vector<float> vPrev(size_t(d.R) * d.P), vCur(size_t(d.R) * d.P);
        float* S = st.ssm + int64_t(h) * d.P * d.N;
        float* xState = st.v + int64_t(h) * d.P;
        for (int64_t t = 0; t < T; ++t) {
            const int64_t th = t * d.H + h;
            const float alpha = std::exp(in.adt[th]);
            const float beta = (1.0f - in.trap[th]) * in.dt[th] * alpha;
            const float gamma = in.trap[th] * in.dt[th];
            const float* x = in.x + t * in.xStride + int64_t(h) * d.P;
            upProject(d, in.mimoX, h, xState, vPrev.data());
            upProject(d, in.mimoX, h, x, vCur.data());
            const float* kt = in.k + t * qkStride;
            for (int p = 0; p < d.P; ++p) {
                float* Sp = S + int64_t(p) * d.N;
                for (int n = 0; n < d.N; ++n) Sp[n] *= alpha;
                for (int r = 0; r < d.R; ++r) {
                    const float bp = beta * vPrev[r * d.P + p];
                    const float gp = gamma * vCur[r * d.P + p];
                    const float* kp = st.k + (int64_t(r) * d.H + h) * d.N;
                    const float* kc = kt + (int64_t(r) * d.H + h) * d.N;
                    for (int n = 0; n < d.N; ++n) Sp[n] += bp * kp[n] + gp * kc[n];
                }
            }
            for (int r = 0; r < d.R; ++r) {
                const float* qr = in.q + t * qkStride + (int64_t(r) * d.H + h) * d.N;
                float* yr = y + ((t * d.R + r) * d.H + h) * int64_t(d.P);
                for (int p = 0; p < d.P; ++p) {
                    const float* Sp = S + int64_t(p) * d.N;
                    float acc = 0.0f;
                    for (int n = 0; n < d.N; ++n) acc += Sp[n] * qr[n];
                    yr[p] = acc + in.D[h] * vCur[r * d.P + p];
                }
                float* kp = st.k + (int64_t(r) * d.H + h) * d.N;
                const float* kc = kt + (int64_t(r) * d.H + h) * d.N;
                for (int n = 0; n < d.N; ++n) kp[n] = kc[n];
            }
            for (int p = 0; p < d.P; ++p) xState[p] = x[p];
        }
    }
}

}  // namespace lectern::cpu
