// The fused rotary + preprocess backward (ops_backward_cuda.h,
// mamba3_rotary_preprocess_backward) against the CPU twins run one after the other
// (train::rotary_angles_backward, then train::mamba3_preprocess_backward), on q and k that the
// CPU forward made from the same proj (the fused op recomputes them from proj instead of
// reading them). Part of test_cuda_backward_ops (test_cuda_backward_ops.cpp's conventions:
// accumulated outputs pre-filled, written ones NaN-poisoned, guards, NaN fails).
// Tolerances: dproj, ddtheta and the parameter sums 1e-4 of the tensor's largest value (fp32
// sums over hundreds of rows in another order than the CPU's double ones, and the reverse sum
// over T of products in double; ~1e-6 expected), as the two ops' own tests.
#include <cmath>
#include <string>

#include "backward_test_util.h"
#include "cuda_test_util.h"
#include "ops/mamba3_preprocess.h"
#include "ops/rotary_angles.h"
#include "training/backward/backward_ops.h"
#include "training/cuda/ops_backward_cuda.h"

namespace lectern {
namespace {

using test::DevArray;
using test::pick;
namespace tc = train::cuda;

const int kRounds = test::rounds(3);

// Shapes the rounds cover: round 0 many heads (several a warp, G 1 or 3) at N 128 and a long
// T; round 2 N above 128 (two float4s a lane); MIMO on odd rounds; odd A now and then.
ops::Mamba3Dims fusedDims(std::mt19937_64& rng, int round) {
    ops::Mamba3Dims d = test::randomDims(rng, round % 2 == 1);
    d.N = 4 * int(pick(rng, 1, 24));
    if (round == 0) {
        d.H = int(pick(rng, 9, 24)), d.N = 128;
        d.G = d.H % 3 == 0 && rng() % 2 ? 3 : 1;
    }
    if (round == 2) d.N = 4 * int(pick(rng, 33, 64));
    d.A = int(pick(rng, 1, d.N / 2));
    return d;
}

struct Case {
    ops::Mamba3Dims d;
    int64_t batch = 0, T = 0;
    std::vector<float> proj, dtBias, bNorm, cNorm, bBias, cBias, theta, angle0, dtheta, q, k, dq,
        dk, ddt, dadt, dtrap, dproj, gDt, gBn, gCn, gBb, gCb;
};

Case makeCase(std::mt19937_64& rng, const ops::Mamba3Dims& d, int64_t batch, int64_t T) {
    Case c;
    c.d = d, c.batch = batch, c.T = T;
    const int64_t rows = batch * T, S = d.dInProj(), qkRow = int64_t(d.R) * d.H * d.N;
    const int64_t HA = int64_t(d.H) * d.A, th = rows * d.H;
    c.proj = test::uniform(rng, size_t(rows * S), -2, 2);
    for (int64_t t = 0; t < rows; ++t)
        for (int h = 0; h < d.H; ++h) {
            c.proj[size_t(t * S + d.offDt() + h)] = float(pick(rng, -5000, 22000)) * 1e-3f;
            c.proj[size_t(t * S + d.offA() + h)] = float(pick(rng, -6000, 3000)) * 1e-3f;
        }
    c.dtBias = test::uniform(rng, size_t(d.H), -1, 1);
    c.bNorm = test::uniform(rng, size_t(d.N), 0.5f, 1.5f);
    c.cNorm = test::uniform(rng, size_t(d.N), 0.5f, 1.5f);
    c.bBias = test::uniform(rng, size_t(d.H * d.R * d.N), -0.5f, 0.5f);
    c.cBias = test::uniform(rng, size_t(d.H * d.R * d.N), -0.5f, 0.5f);
    c.angle0 = test::uniform(rng, size_t(batch * HA), 0, 6.28f);
    // The forward on the CPU: q, k, the increments, then the rotation; theta as it replays.
    c.q.resize(size_t(rows * qkRow)), c.k.resize(size_t(rows * qkRow));
    c.dtheta.resize(size_t(rows * HA));
    std::vector<float> dt(static_cast<size_t>(th)), adt(dt), trap(dt);
    const ops::Mamba3PreprocessParams ph{c.dtBias.data(), c.bNorm.data(), c.cNorm.data(),
                                         c.bBias.data(), c.cBias.data()};
    cpu::mamba3_preprocess_forward(d, ph, c.proj.data(), rows, c.q.data(), c.k.data(), dt.data(),
                                   adt.data(), trap.data(), c.dtheta.data());
    c.theta.resize(size_t(rows * HA));
    for (int64_t b = 0; b < batch; ++b) {
        std::vector<float> state(c.angle0.begin() + b * HA, c.angle0.begin() + (b + 1) * HA);
        cpu::rotary_angles_forward(d, c.q.data() + b * T * qkRow, c.k.data() + b * T * qkRow,
                                   state.data(), c.dtheta.data() + b * T * HA, T);
        for (int64_t i = 0; i < HA; ++i) {
            double cur = c.angle0[size_t(b * HA + i)];
            for (int64_t t = 0; t < T; ++t) {
                const size_t at = size_t((b * T + t) * HA + i);
                cur = cpu::advanceAngle(cur, c.dtheta[at]);
                c.theta[at] = float(cur);
            }
        }
    }
    c.dq = test::uniform(rng, size_t(rows * qkRow), -1, 1);
    c.dk = test::uniform(rng, size_t(rows * qkRow), -1, 1);
    c.ddt = test::uniform(rng, size_t(th), -1, 1);
    c.dadt = test::uniform(rng, size_t(th), -1, 1);
    c.dtrap = test::uniform(rng, size_t(th), -1, 1);
    c.dproj = test::uniform(rng, size_t(rows * S), -0.5f, 0.5f);  // pre-filled: +=
    c.gDt = test::uniform(rng, size_t(d.H), -0.5f, 0.5f);
    c.gBn = test::uniform(rng, size_t(d.N), -0.5f, 0.5f);
    c.gCn = test::uniform(rng, size_t(d.N), -0.5f, 0.5f);
    c.gBb = test::uniform(rng, size_t(d.H * d.R * d.N), -0.5f, 0.5f);
    c.gCb = test::uniform(rng, size_t(d.H * d.R * d.N), -0.5f, 0.5f);
    return c;
}

// The GPU op's outputs for one case: everything it writes or adds to.
struct Outputs {
    std::vector<float> dproj, ddtheta, gDt, gBn, gCn, gBb, gCb;
    bool dqdkUnchanged = false, guards = false;
};

Outputs runFused(const Case& c, bool angleWalk) {
    const ops::Mamba3Dims& d = c.d;
    const int64_t rows = c.batch * c.T, HA = int64_t(d.H) * d.A;
    DevArray proj(c.proj), dtBias(c.dtBias), bNorm(c.bNorm), cNorm(c.cNorm), bBias(c.bBias),
        cBias(c.cBias), theta(c.theta), dq(c.dq), dk(c.dk), ddt(c.ddt), dadt(c.dadt),
        dtrap(c.dtrap), dproj(c.dproj), gDt(c.gDt), gBn(c.gBn), gCn(c.gCn), gBb(c.gBb), gCb(c.gCb),
        dth(size_t(rows * HA)), ddtheta(size_t(rows * HA)),
        scratch(size_t(tc::mamba3_rotary_preprocess_backward_scratch_floats(d)));
    const ops::Mamba3PreprocessParams p{dtBias.p(), bNorm.p(), cNorm.p(), bBias.p(), cBias.p()};
    const train::Mamba3PreprocessGrads g{gDt.p(), gBn.p(), gCn.p(), gBb.p(), gCb.p()};
    EXPECT_EQ(tc::mamba3_rotary_preprocess_backward(
                  d, p, g, proj.p(), theta.p(), c.batch, c.T, dq.p(), dk.p(), ddt.p(), dadt.p(),
                  dtrap.p(), dproj.p(), dth.p(), ddtheta.p(), scratch.p(), nullptr, angleWalk),
              cudaSuccess);
    test::syncDevice();
    Outputs o{dproj.get(), ddtheta.get(), gDt.get(), gBn.get(), gCn.get(), gBb.get(), gCb.get()};
    o.dqdkUnchanged = dq.get() == c.dq && dk.get() == c.dk;
    o.guards = dproj.guardsIntact() && ddtheta.guardsIntact() && dth.guardsIntact() &&
               scratch.guardsIntact() && gDt.guardsIntact() && gBn.guardsIntact() &&
               gCn.guardsIntact() && gBb.guardsIntact() && gCb.guardsIntact();
    return o;
}

// The CPU twins in sequence: the rotary backward per document, then the preprocess backward.
Outputs runCpu(Case c) {
    const ops::Mamba3Dims& d = c.d;
    const int64_t rows = c.batch * c.T, HA = int64_t(d.H) * d.A, qkRow = int64_t(d.R) * d.H * d.N;
    std::vector<float> ddtheta(size_t(rows * HA), 0.0f);
    for (int64_t b = 0; b < c.batch; ++b) {
        const int64_t r0 = b * c.T;
        train::rotary_angles_backward(d, c.q.data() + r0 * qkRow, c.k.data() + r0 * qkRow,
                                      c.angle0.data() + b * HA, c.dtheta.data() + r0 * HA, c.T,
                                      c.dq.data() + r0 * qkRow, c.dk.data() + r0 * qkRow,
                                      ddtheta.data() + r0 * HA);
    }
    const ops::Mamba3PreprocessParams p{c.dtBias.data(), c.bNorm.data(), c.cNorm.data(),
                                        c.bBias.data(), c.cBias.data()};
    const train::Mamba3PreprocessGrads g{c.gDt.data(), c.gBn.data(), c.gCn.data(), c.gBb.data(),
                                         c.gCb.data()};
    train::mamba3_preprocess_backward(d, p, g, c.proj.data(), rows, c.dq.data(), c.dk.data(),
                                      c.ddt.data(), c.dadt.data(), c.dtrap.data(), ddtheta.data(),
                                      c.dproj.data());
    return Outputs{c.dproj, ddtheta, c.gDt, c.gBn, c.gCn, c.gBb, c.gCb};
}

TEST(CudaBackward, RotaryPreprocessFused) {
    for (int round = 0; round < 2 * kRounds; ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        const ops::Mamba3Dims d = fusedDims(rng, round);
        const int64_t batch = pick(rng, 1, round == 0 ? 2 : 3),
                      T = round == 0 ? pick(rng, 257, 700) : pick(rng, 1, 300);
        std::printf("seed %llu batch=%lld T=%lld %s\n", (unsigned long long)seed, (long long)batch,
                    (long long)T, test::dimsStr(d).c_str());
        ASSERT_TRUE(tc::mamba3_rotary_preprocess_backward_fits(d));
        const Case c = makeCase(rng, d, batch, T);
        const Outputs cpu = runCpu(c);
        // With the angle walk (the step's default), then with the reverse sum, scalars and
        // angles as separate kernels (ddtheta written between them).
        for (const bool walk : {true, false}) {
            const Outputs gpu = runFused(c, walk);
            const std::string w = walk ? "fused+walk " : "fused ";
            test::expectRel(gpu.dproj, cpu.dproj, 1e-4, w + "dproj");
            if (!walk && d.A > 0) test::expectRel(gpu.ddtheta, cpu.ddtheta, 1e-4, w + "ddtheta");
            test::expectRel(gpu.gDt, cpu.gDt, 1e-4, w + "dtBias");
            test::expectRel(gpu.gBn, cpu.gBn, 1e-4, w + "bNorm");
            test::expectRel(gpu.gCn, cpu.gCn, 1e-4, w + "cNorm");
            test::expectRel(gpu.gBb, cpu.gBb, 1e-4, w + "bBias");
            test::expectRel(gpu.gCb, cpu.gCb, 1e-4, w + "cBias");
            EXPECT_TRUE(gpu.dqdkUnchanged) << "dq and dk are inputs only";
            EXPECT_TRUE(gpu.guards);
        }
        // Fixed-order sums: a second run gives the same bits.
        const Outputs gpu = runFused(c, true), again = runFused(c, true);
        EXPECT_TRUE(again.dproj == gpu.dproj && again.gDt == gpu.gDt && again.gBn == gpu.gBn &&
                    again.gCn == gpu.gCn && again.gBb == gpu.gBb && again.gCb == gpu.gCb)
            << "two runs differ";
    }
}

// Shapes it does not take are refused before anything runs (the caller keeps the two ops).
TEST(CudaBackward, RotaryPreprocessFusedRefuses) {
    ops::Mamba3Dims d;
    d.H = 2, d.P = 4, d.N = 6, d.A = 2;  // N not a multiple of 4
    EXPECT_FALSE(tc::mamba3_rotary_preprocess_backward_fits(d));
    d.N = 8, d.mimo = true, d.R = 5;  // more ranks than the kernel holds
    EXPECT_FALSE(tc::mamba3_rotary_preprocess_backward_fits(d));
    d.R = 4;
    EXPECT_TRUE(tc::mamba3_rotary_preprocess_backward_fits(d));
    d.N = 260;
    EXPECT_FALSE(tc::mamba3_rotary_preprocess_backward_fits(d));
    d.N = 6, d.R = 1, d.mimo = false;
    DevArray poison(16);
    const ops::Mamba3PreprocessParams p{poison.p(), poison.p(), poison.p(), poison.p(), poison.p()};
    const train::Mamba3PreprocessGrads g{poison.p(), poison.p(), poison.p(), poison.p(),
                                         poison.p()};
    EXPECT_EQ(tc::mamba3_rotary_preprocess_backward(
                  d, p, g, poison.p(), poison.p(), 1, 1, poison.p(), poison.p(), poison.p(),
                  poison.p(), poison.p(), poison.p(), poison.p(), poison.p(), poison.p(), nullptr),
              cudaErrorNotSupported);
    test::syncDevice();
}

}  // namespace
}  // namespace lectern
