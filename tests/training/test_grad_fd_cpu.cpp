// Every CPU backward (training/backward) against central finite differences of the
// engine's forward ops, on tiny random shapes, SISO and MIMO (fd_check.h says how). The
// seed is printed; LECTERN_TEST_SEED=<n> reruns one.
#include <gtest/gtest.h>

#include <cstdlib>

#include "fd_check.h"
#include "ops/embedding.h"
#include "ops/gated_mlp.h"
#include "ops/linear.h"
#include "ops/mamba3_gate.h"
#include "ops/mamba3_preprocess.h"
#include "ops/rmsnorm.h"
#include "ops/rotary_angles.h"
#include "training/backward/backward_ops.h"
#include "training/loss.h"

namespace lectern {
namespace {

using test::FdVar;
using test::randn;
using test::uniform;
using V = std::vector<float>;

uint64_t seedFor(int salt) {
    const char* env = std::getenv("LECTERN_TEST_SEED");
    const uint64_t base = env ? std::strtoull(env, nullptr, 10) : 20261122u;
    std::printf("  seed %llu (salt %d)\n", (unsigned long long)base, salt);
    return base * 1000003u + uint64_t(salt);
}

ops::Mamba3Dims dims(bool mimo, int G = 1) {
    ops::Mamba3Dims d;
    d.H = 4, d.P = 4, d.N = 8, d.G = G, d.A = 2, d.R = mimo ? 2 : 1, d.mimo = mimo;
    return d;
}

TEST(GradFd, EmbeddingRmsnormLinear) {
    std::mt19937_64 rng(seedFor(1));
    const int64_t T = 5, D = 6, Vv = 7, O = 3;
    std::vector<int32_t> ids{3, 0, 3, 6, 1};
    V table = randn(Vv * D, rng), dtable(table.size());
    test::fdCheck(
        "embedding", {{"table", &table, &dtable}},
        [&] {
            V out(T * D);
            cpu::embedding_forward(out.data(), ids.data(), T, table.data(), D);
            return out;
        },
        [&](const V& w) { train::embedding_backward(dtable.data(), w.data(), ids.data(), T, D); },
        rng);

    V x = randn(T * D, rng), wt = randn(D, rng, 1.0f, 0.3f), dx(x.size()), dw(wt.size());
    test::fdCheck(
        "rmsnorm", {{"in", &x, &dx}, {"weight", &wt, &dw}},
        [&] {
            V out(T * D);
            cpu::rmsnorm_forward(out.data(), x.data(), wt.data(), T, D, 1e-5f);
            return out;
        },
        [&](const V& w) {
            train::rmsnorm_backward(dx.data(), dw.data(), w.data(), x.data(), wt.data(), T, D,
                                    1e-5f);
        },
        rng);

    V W = randn(O * D, rng), dW(W.size());
    test::fdCheck(
        "linear", {{"in", &x, &dx}, {"W", &W, &dW}},
        [&] {
            V out(T * O);
            cpu::linear_forward(out.data(), x.data(), W.data(), T, D, O);
            return out;
        },
        [&](const V& w) {
            train::linear_backward(dx.data(), dW.data(), w.data(), x.data(), W.data(), T, D, O);
        },
        rng);
}

TEST(GradFd, GatedMlpAndCrossEntropy) {
    std::mt19937_64 rng(seedFor(2));
    const int64_t T = 4, D = 5, F = 6, Vv = 9;
    V x = randn(T * D, rng), fc1 = randn(2 * F * D, rng, 0, 0.5f), fc2 = randn(D * F, rng, 0, 0.5f);
    V dx(x.size()), d1(fc1.size()), d2(fc2.size());
    test::fdCheck(
        "gated_mlp", {{"in", &x, &dx}, {"fc1", &fc1, &d1}, {"fc2", &fc2, &d2}},
        [&] {
            V out(T * D), scratch(T * 2 * F);
            cpu::gated_mlp_forward(out.data(), x.data(), fc1.data(), fc2.data(), scratch.data(), T,
                                   D, F);
            return out;
        },
        [&](const V& w) {
            train::gated_mlp_backward(dx.data(), d1.data(), d2.data(), w.data(), x.data(),
                                      fc1.data(), fc2.data(), T, D, F);
        },
        rng);

    std::vector<int32_t> ids{1, 8, 0, 4};
    V logits = randn(T * Vv, rng, 0, 2.0f), dl(logits.size());
    test::fdCheck(
        "cross_entropy", {{"logits", &logits, &dl}},
        [&] {
            return V{float(train::cross_entropy_forward_backward(logits.data(), ids.data(), T, Vv,
                                                                 1.0, nullptr))};
        },
        [&](const V& w) {
            V g(dl.size());
            train::cross_entropy_forward_backward(logits.data(), ids.data(), T, Vv, w[0], g.data());
            for (size_t i = 0; i < g.size(); ++i) dl[i] += g[i];
        },
        rng);
}

class GradFdMixer : public ::testing::TestWithParam<std::pair<bool, int>> {};

TEST_P(GradFdMixer, Preprocess) {
    const ops::Mamba3Dims d = dims(GetParam().first, GetParam().second);
    std::mt19937_64 rng(seedFor(3 + d.R * 10 + d.G));
    const int64_t T = 5, H = d.H, N = d.N, RHN = int64_t(d.R) * H * N;
    V proj = randn(T * d.dInProj(), rng), dproj(proj.size());
    V dtb = randn(H, rng, -1.0f, 1.0f), bn = randn(N, rng, 1, 0.3f), cn = randn(N, rng, 1, 0.3f);
    V bb = randn(RHN, rng, 1, 0.5f), cb = randn(RHN, rng, 1, 0.5f);
    V ddtb(H), dbn(N), dcn(N), dbb(RHN), dcb(RHN);
    auto fwd = [&] {
        V q(T * RHN), k(T * RHN), dt(T * H), adt(T * H), trap(T * H), th(T * H * d.A);
        const ops::Mamba3PreprocessParams p{dtb.data(), bn.data(), cn.data(), bb.data(), cb.data()};
        cpu::mamba3_preprocess_forward(d, p, proj.data(), T, q.data(), k.data(), dt.data(),
                                       adt.data(), trap.data(), th.data());
        V out = q;
        for (const V* v : {&k, &dt, &adt, &trap, &th}) out.insert(out.end(), v->begin(), v->end());
        return out;
    };
    auto bwd = [&](const V& w) {
        const float* p = w.data();
        const float *dq = p, *dk = p + T * RHN, *ddt = dk + T * RHN, *dadt = ddt + T * H;
        const float *dtrap = dadt + T * H, *ddth = dtrap + T * H;
        const ops::Mamba3PreprocessParams pp{dtb.data(), bn.data(), cn.data(), bb.data(),
                                             cb.data()};
        const train::Mamba3PreprocessGrads g{ddtb.data(), dbn.data(), dcn.data(), dbb.data(),
                                             dcb.data()};
        train::mamba3_preprocess_backward(d, pp, g, proj.data(), T, dq, dk, ddt, dadt, dtrap, ddth,
                                          dproj.data());
    };
    test::fdCheck("mamba3_preprocess",
                  {{"proj", &proj, &dproj},
                   {"dt_bias", &dtb, &ddtb},
                   {"B_norm", &bn, &dbn},
                   {"C_norm", &cn, &dcn},
                   {"B_bias", &bb, &dbb},
                   {"C_bias", &cb, &dcb}},
                  fwd, bwd, rng, {.step = 3e-3, .tol = 1e-3, .samples = 40});
}

TEST_P(GradFdMixer, RotaryAngles) {
    const ops::Mamba3Dims d = dims(GetParam().first, GetParam().second);
    std::mt19937_64 rng(seedFor(4 + d.R * 10 + d.G));
    const int64_t T = 6, RHN = int64_t(d.R) * d.H * d.N;
    V q = randn(T * RHN, rng), k = randn(T * RHN, rng), dq(q.size()), dk(k.size());
    V th = randn(T * d.H * d.A, rng, 0.0f, 1.5f), dth(th.size());
    const V angle0 = uniform(size_t(d.H * d.A), rng, 0.0f, 6.2f);
    auto rotated = [&](V& qo, V& ko) {
        qo = q, ko = k;
        V ang = angle0;
        cpu::rotary_angles_forward(d, qo.data(), ko.data(), ang.data(), th.data(), T);
    };
    test::fdCheck(
        "rotary_angles", {{"q", &q, &dq}, {"k", &k, &dk}, {"dtheta", &th, &dth}},
        [&] {
            V qo, ko;
            rotated(qo, ko);
            qo.insert(qo.end(), ko.begin(), ko.end());
            return qo;
        },
        [&](const V& w) {
            V qo, ko;
            rotated(qo, ko);
            V gq(w.begin(), w.begin() + T * RHN), gk(w.begin() + T * RHN, w.end());
            train::rotary_angles_backward(d, qo.data(), ko.data(), angle0.data(), th.data(), T,
                                          gq.data(), gk.data(), dth.data());
            for (size_t i = 0; i < gq.size(); ++i) dq[i] += gq[i], dk[i] += gk[i];
        },
        rng);
}

TEST_P(GradFdMixer, SsmScan) {
    const ops::Mamba3Dims d = dims(GetParam().first, GetParam().second);
    std::mt19937_64 rng(seedFor(5 + d.R * 10 + d.G));
    const int64_t T = 7, H = d.H, RHN = int64_t(d.R) * H * d.N, HRP = int64_t(H) * d.R * d.P;
    V q = randn(T * RHN, rng), k = randn(T * RHN, rng), x = randn(T * d.dInner(), rng);
    V dt = uniform(T * H, rng, 0.05f, 0.6f), trap = uniform(T * H, rng, 0.1f, 0.9f);
    V adt = uniform(T * H, rng, -1.0f, -0.01f), D = randn(H, rng), mx = randn(HRP, rng, 0.5f, 0.3f);
    V dq(q.size()), dk(k.size()), dx(x.size()), ddt(dt.size()), dtrap(trap.size()),
        dadt(adt.size()), dD(D.size()), dmx(mx.size());
    auto inputs = [&] {
        return ops::SsmScanInputs{q.data(),    k.data(),   x.data(),
                                  d.dInner(),  adt.data(), dt.data(),
                                  trap.data(), D.data(),   d.mimo ? mx.data() : nullptr};
    };
    std::vector<FdVar> vars{{"q", &q, &dq},    {"k", &k, &dk},          {"x", &x, &dx},
                            {"dt", &dt, &ddt}, {"trap", &trap, &dtrap}, {"adt", &adt, &dadt},
                            {"D", &D, &dD}};
    if (d.mimo) vars.push_back({"mimo_x", &mx, &dmx});
    test::fdCheck(
        "ssm_scan", vars,
        [&] {
            V y(T * d.R * d.dInner()), hs(T * H * d.P * d.N);
            train::ssm_scan_forward_save(d, inputs(), T, y.data(), hs.data());
            return y;
        },
        [&](const V& w) {
            V y(T * d.R * d.dInner()), hs(T * H * d.P * d.N);
            train::ssm_scan_forward_save(d, inputs(), T, y.data(), hs.data());
            const train::SsmScanGrads g{
                dq.data(),  dk.data(),    dx.data(), dadt.data(),
                ddt.data(), dtrap.data(), dD.data(), d.mimo ? dmx.data() : nullptr};
            train::ssm_scan_backward(d, inputs(), hs.data(), T, w.data(), g);
        },
        rng, {.step = 3e-3, .tol = 1e-3, .samples = 25});
}

TEST_P(GradFdMixer, Gate) {
    const ops::Mamba3Dims d = dims(GetParam().first, GetParam().second);
    for (bool norm : {false, true}) {
        std::mt19937_64 rng(seedFor(6 + d.R * 10 + d.G + (norm ? 100 : 0)));
        const int64_t T = 4, HRP = int64_t(d.H) * d.R * d.P;
        V y = randn(T * d.R * d.dInner(), rng), z = randn(T * d.dInner(), rng);
        V mz = randn(HRP, rng, 1, 0.3f), mo = randn(HRP, rng, 0.5f, 0.3f);
        V nw = randn(d.dInner(), rng, 1, 0.25f);
        V dy(y.size()), dz(z.size()), dmz(mz.size()), dmo(mo.size()), dnw(nw.size());
        auto params = [&] {
            return ops::Mamba3GateParams{d.mimo ? mz.data() : nullptr, d.mimo ? mo.data() : nullptr,
                                         norm ? nw.data() : nullptr};
        };
        std::vector<FdVar> vars{{"y", &y, &dy}, {"z", &z, &dz}};
        if (d.mimo) vars.push_back({"mimo_z", &mz, &dmz}), vars.push_back({"mimo_o", &mo, &dmo});
        if (norm) vars.push_back({"norm", &nw, &dnw});
        test::fdCheck(
            norm ? "mamba3_gate(norm)" : "mamba3_gate", vars,
            [&] {
                V out(T * d.dInner());
                cpu::mamba3_gate_forward(d, params(), y.data(), z.data(), d.dInner(), T,
                                         out.data());
                return out;
            },
            [&](const V& w) {
                const train::Mamba3GateGrads g{d.mimo ? dmz.data() : nullptr,
                                               d.mimo ? dmo.data() : nullptr,
                                               norm ? dnw.data() : nullptr};
                train::mamba3_gate_backward(d, params(), g, y.data(), z.data(), d.dInner(), T,
                                            w.data(), dy.data(), dz.data());
            },
            rng);
    }
}

INSTANTIATE_TEST_SUITE_P(SisoMimo, GradFdMixer,
                         ::testing::Values(std::pair{false, 1}, std::pair{true, 1},
                                           std::pair{false, 2}, std::pair{true, 2}));

}  // namespace
}  // namespace lectern
