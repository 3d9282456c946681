// CPU reference for ssm_chunk_scan_forward (engine/ops/ssm_chunk_scan.h). Per head, the
// chunks run in order; inside a chunk every output is an independent sum (the quadratic,
// attention-like form), which is what the GPU kernel parallelises. Decays are exponents
// of differences of the in-chunk cumulative sum, all <= 0, so nothing overflows.
#include "ops/ssm_chunk_scan.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace lectern::cpu {
namespace {

struct HeadScratch {
    std::vector<double> cs;    // [C] inclusive cumsum of adt inside the chunk
    std::vector<float> scale;  // [C]
    std::vector<float> v;      // [C, R, P] up-projected x
    std::vector<float> vPrev;  // [R, P]
    std::vector<float> acc;    // [P, N]
};

void upProject(const ops::Mamba3Dims& d, const float* mimoX, int h, const float* x, float* out) {
    for (int r = 0; r < d.R; ++r) {
        const float* w = mimoX ? mimoX + (int64_t(h) * d.R + r) * d.P : nullptr;
        for (int p = 0; p < d.P; ++p) out[r * d.P + p] = w ? x[p] * w[p] : x[p];
    }
}

// Eight independent partial sums: the compiler may not reorder one float sum, but it
// vectorises these lanes (no -ffast-math needed), which is most of the scan's time.
float dot(const float* a, const float* b, int n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

// One chunk [t0, t0 + c) of head h, in three steps: prepare (decays, weights, acc),
// outputs, then the state at the chunk's end.
struct Chunk {
    const ops::Mamba3Dims& d;
    const ops::SsmScanInputs& in;
    int h;
    int64_t t0;
    int c;
    HeadScratch& w;

    const float* qAt(int64_t t, int r) const {
        return in.q + t * int64_t(d.R) * d.H * d.N + (int64_t(r) * d.H + h) * d.N;
    }
    const float* kAt(int64_t t, int r) const {
        return in.k + t * int64_t(d.R) * d.H * d.N + (int64_t(r) * d.H + h) * d.N;
    }
    float at(const float* a, int s) const { return a[(t0 + s) * d.H + h]; }

    void prepare(const float* S, const float* kState, const float* xState) {
        double run = 0.0;
        for (int s = 0; s < c; ++s) {
            run += at(in.adt, s);
            w.cs[s] = run;
            const float next = s + 1 < c ? (1.0f - at(in.trap, s + 1)) * at(in.dt, s + 1) : 0.0f;
            w.scale[s] = at(in.trap, s) * at(in.dt, s) + next;
            upProject(d, in.mimoX, h, in.x + (t0 + s) * in.xStride + int64_t(h) * d.P,
                      &w.v[size_t(s) * d.R * d.P]);
        }
        // acc = S + (1 - trap_0) dt_0 Σ_r v_prev,r k_prev,rᵀ: the previous token's pending term.
        upProject(d, in.mimoX, h, xState, w.vPrev.data());
        const float pend = (1.0f - at(in.trap, 0)) * at(in.dt, 0);
        for (int p = 0; p < d.P; ++p) {
            for (int n = 0; n < d.N; ++n) {
                float a = S[int64_t(p) * d.N + n];
                for (int r = 0; r < d.R; ++r)
                    a += pend * w.vPrev[r * d.P + p] * kState[(int64_t(r) * d.H + h) * d.N + n];
                w.acc[int64_t(p) * d.N + n] = a;
            }
        }
    }

    void outputs(float* y) const {
        for (int t = 0; t < c; ++t) {
            const float gammaT = at(in.trap, t) * at(in.dt, t);
            const float eT = float(std::exp(w.cs[t]));
            for (int R = 0; R < d.R; ++R) {
                const float* q = qAt(t0 + t, R);
                float* yo = y + (((t0 + t) * d.R + R) * d.H + h) * int64_t(d.P);
                for (int p = 0; p < d.P; ++p) yo[p] = eT * dot(&w.acc[int64_t(p) * d.N], q, d.N);
                for (int s = 0; s <= t; ++s) {
                    const float decay =
                        std::exp(float(w.cs[t] - w.cs[s])) * (s < t ? w.scale[s] : gammaT);
                    for (int r = 0; r < d.R; ++r) {
                        const float coef = decay * dot(q, kAt(t0 + s, r), d.N);
                        const float* vs = &w.v[(size_t(s) * d.R + r) * d.P];
                        for (int p = 0; p < d.P; ++p) yo[p] += coef * vs[p];
                    }
                }
                const float* vt = &w.v[(size_t(t) * d.R + R) * d.P];
                for (int p = 0; p < d.P; ++p) yo[p] += in.D[h] * vt[p];
            }
        }
    }

    // h_out = e^{cs_last} acc + Σ_s e^{cs_last - cs_s} scale_s Σ_r v_s,r k_s,rᵀ; k, v <- last.
    void advanceState(float* S, float* kState, float* xState) const {
        const float eLast = float(std::exp(w.cs[c - 1]));
        for (int64_t i = 0; i < int64_t(d.P) * d.N; ++i) S[i] = eLast * w.acc[i];
        for (int s = 0; s < c; ++s) {
            const float f = float(std::exp(w.cs[c - 1] - w.cs[s])) * w.scale[s];
            for (int r = 0; r < d.R; ++r) {
                const float* ks = kAt(t0 + s, r);
                const float* vs = &w.v[(size_t(s) * d.R + r) * d.P];
                for (int p = 0; p < d.P; ++p) {
                    const float fv = f * vs[p];
                    float* Sp = S + int64_t(p) * d.N;
                    for (int n = 0; n < d.N; ++n) Sp[n] += fv * ks[n];
                }
            }
        }
        for (int r = 0; r < d.R; ++r)
            std::copy_n(kAt(t0 + c - 1, r), d.N, kState + (int64_t(r) * d.H + h) * d.N);
        std::copy_n(in.x + (t0 + c - 1) * in.xStride + int64_t(h) * d.P, d.P, xState);
    }
};

}  // namespace

void ssm_chunk_scan_forward(const ops::Mamba3Dims& d, int chunkSize, const ops::SsmScanInputs& in,
                            int64_t T, float* y, const ops::SsmStateRef& st) {
    if (T <= 0) return;
    const int C = std::max(1, chunkSize);
#pragma omp parallel for schedule(dynamic, 1) if (d.H > 1)
    for (int h = 0; h < d.H; ++h) {
        HeadScratch w;
        w.cs.resize(size_t(C));
        w.scale.resize(size_t(C));
        w.v.resize(size_t(C) * d.R * d.P);
        w.vPrev.resize(size_t(d.R) * d.P);
        w.acc.resize(size_t(d.P) * d.N);
        float* S = st.ssm + int64_t(h) * d.P * d.N;
        for (int64_t t0 = 0; t0 < T; t0 += C) {
            const int c = int(std::min<int64_t>(C, T - t0));
            Chunk chunk{d, in, h, t0, c, w};
            chunk.prepare(S, st.k, st.v + int64_t(h) * d.P);
            chunk.outputs(y);
            chunk.advanceState(S, st.k, st.v + int64_t(h) * d.P);
        }
    }
}

}  // namespace lectern::cpu
