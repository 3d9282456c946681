// A Session on the GPU keeps its state resident on the device between calls (issue 4):
// N steps with the state left there give bit-for-bit the result of N steps with a host
// sync (and a re-upload) after each; a fork is copied device to device and independent of
// its parent; state() after prefill equals the CPU engine's within the golden tolerance;
// restore() then step continues the restored state; sessions freed and made again reuse
// device memory without stale decode graphs. Through the public API, on a random model.
// CudaDecode: the fused decode step (engine/cuda/cuda_decode.cpp) against the op-by-op
// path and the CPU engine, on the CudaModel directly. CudaBf16: a model loaded with the
// default GpuPrecision (Bf16) against the CPU on the golden cases, within kBf16Tol.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <utility>

#include "cuda/cuda_model.h"
#include "cuda_test_util.h"
#include "io/safetensors.h"
#include "lectern/engine.h"
#include "random_model.h"
#include "tensor_check.h"

namespace lectern {
namespace {

constexpr double kTol = 1e-4, kAngleTol = 5e-4;

bool sameBits(std::span<const float> a, std::span<const float> b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

void expectStatesIdentical(const DocumentState& a, const DocumentState& b, const char* what) {
    ASSERT_EQ(a.layers().size(), b.layers().size()) << what;
    EXPECT_EQ(a.position(), b.position()) << what;
    for (size_t i = 0; i < a.layers().size(); ++i) {
        const LayerState &x = a.layers()[i], &y = b.layers()[i];
        EXPECT_TRUE(sameBits(x.angle, y.angle)) << what << " layer " << i << " angle";
        EXPECT_TRUE(sameBits(x.ssm, y.ssm)) << what << " layer " << i << " ssm";
        EXPECT_TRUE(sameBits(x.k, y.k)) << what << " layer " << i << " k";
        EXPECT_TRUE(sameBits(x.v, y.v)) << what << " layer " << i << " v";
    }
}

// tol bounds the largest difference of each state tensor; maxNmse (bf16 runs) also the error
// over the whole tensor; angleTol the running angles (radians).
void expectStatesClose(const DocumentState& a, const DocumentState& b, const char* what,
                       double tol = kTol, double maxNmse = INFINITY, double angleTol = kAngleTol) {
    ASSERT_EQ(a.layers().size(), b.layers().size()) << what;
    EXPECT_EQ(a.position(), b.position()) << what;
    for (size_t i = 0; i < a.layers().size(); ++i) {
        const LayerState &x = a.layers()[i], &y = b.layers()[i];
        const auto ea = test::compareAngle(x.angle.data(), y.angle.data(), x.angle.size());
        EXPECT_TRUE(ea.within(angleTol)) << what << " layer " << i << " angle " << ea.describe();
        for (auto [p, q, name] : {std::tuple{&x.ssm, &y.ssm, "ssm"}, std::tuple{&x.k, &y.k, "k"},
                                  std::tuple{&x.v, &y.v, "v"}}) {
            const auto e = test::compareRel(p->data(), q->data(), p->size());
            EXPECT_TRUE(e.within(tol) && e.nmse <= maxNmse)
                << what << " layer " << i << " " << name << " " << e.describe();
        }
    }
}

class CudaSession : public ::testing::Test {
protected:
    void SetUp() override {
        seed_ = std::random_device{}();
        spec_ = test::randomSpec(seed_);
        std::printf("seed %llu: %s\n", (unsigned long long)seed_, spec_.describe().c_str());
        const std::string dir = test::makeTempDir("lectern-cuda-session");
        ASSERT_TRUE(test::writeRandomModel(dir, spec_, seed_));
        auto cpu = Model::load(dir, DeviceKind::Cpu);
        // Fp32: these tests compare with the CPU at the golden 1e-4 (bf16, the default on
        // the GPU, is checked below with its own tolerance).
        auto gpu = Model::load(dir, LoadOptions{DeviceKind::Cuda, GpuPrecision::Fp32});
        std::filesystem::remove_all(dir);
        ASSERT_TRUE(cpu) << cpu.error();
        ASSERT_TRUE(gpu) << gpu.error();
        cpu_ = std::move(*cpu);
        gpu_ = std::move(*gpu);
        std::mt19937_64 rng(seed_);
        prompt_.resize(1 + rng() % 100);
        for (auto& t : prompt_) t = int32_t(rng() % spec_.vocab);
        for (int i = 0; i < 12; ++i) steps_.push_back(int32_t(rng() % spec_.vocab));
    }

    uint64_t seed_ = 0;
    test::RandomModelSpec spec_;
    Model cpu_, gpu_;
    std::vector<int32_t> prompt_, steps_;
};

TEST_F(CudaSession, ResidentStepsEqualSyncedSteps) {
    Session resident = gpu_.newSession(), readBack = gpu_.newSession(),
            roundTrip = gpu_.newSession();
    for (Session* s : {&resident, &readBack, &roundTrip}) ASSERT_TRUE(s->prefill(prompt_));
    for (int32_t t : steps_) {
        ASSERT_TRUE(resident.step(t));
        ASSERT_TRUE(readBack.step(t));
        ASSERT_TRUE(roundTrip.step(t));
        // A const read copies the state down; the device copy stays the newest.
        const Session& r = readBack;
        EXPECT_EQ(r.state().position(), resident.position());
        EXPECT_EQ(r.lastLogits().size(), size_t(gpu_.info().vocabPadded));
        // A non-const read makes the next step upload the host copy again.
        DocumentState& h = roundTrip.state();
        EXPECT_EQ(h.position(), resident.position());
    }
    EXPECT_TRUE(sameBits(resident.lastLogits(), readBack.lastLogits()));
    EXPECT_TRUE(sameBits(resident.lastLogits(), roundTrip.lastLogits()));
    expectStatesIdentical(std::as_const(resident).state(), readBack.state(), "read back");
    expectStatesIdentical(std::as_const(resident).state(), roundTrip.state(), "round trip");
}

TEST_F(CudaSession, StateAfterPrefillMatchesCpu) {
    Session g = gpu_.newSession(), c = cpu_.newSession();
    ASSERT_TRUE(g.prefill(prompt_));
    ASSERT_TRUE(c.prefill(prompt_));
    EXPECT_EQ(g.position(), c.position());
    expectStatesClose(std::as_const(g).state(), c.state(), "after prefill");
    const auto e =
        test::compareRel(g.lastLogits().data(), c.lastLogits().data(), c.lastLogits().size());
    EXPECT_TRUE(e.within(kTol)) << e.describe();
    // And after decode steps that never left the device.
    for (int32_t t : steps_) {
        ASSERT_TRUE(g.step(t));
        ASSERT_TRUE(c.step(t));
    }
    expectStatesClose(std::as_const(g).state(), c.state(), "after steps");
}

TEST_F(CudaSession, ForkIsIndependent) {
    Session parent = gpu_.newSession();
    ASSERT_TRUE(parent.prefill(prompt_));
    ASSERT_TRUE(parent.step(steps_[0]));  // newest state only on the device
    Session child = parent.fork();
    // References that took the same prefix through the host.
    Session refA = gpu_.newSession(), refB = gpu_.newSession();
    ASSERT_TRUE(refA.prefill(prompt_));
    ASSERT_TRUE(refA.step(steps_[0]));
    ASSERT_TRUE(
        refB.restore(std::as_const(refA).state(),
                     std::vector<float>(refA.lastLogits().begin(), refA.lastLogits().end())));
    for (size_t i = 1; i < steps_.size(); ++i) {
        ASSERT_TRUE(parent.step(steps_[i]));
        ASSERT_TRUE(refA.step(steps_[i]));
        const int32_t other = int32_t((steps_[i] + 1) % spec_.vocab);
        ASSERT_TRUE(child.step(other));
        ASSERT_TRUE(refB.step(other));
    }
    EXPECT_TRUE(sameBits(parent.lastLogits(), refA.lastLogits()));
    EXPECT_TRUE(sameBits(child.lastLogits(), refB.lastLogits()));
    expectStatesIdentical(std::as_const(parent).state(), refA.state(), "parent");
    expectStatesIdentical(std::as_const(child).state(), refB.state(), "child");
    // Copy assignment copies device to device too.
    Session assigned = gpu_.newSession();
    assigned = parent;
    ASSERT_TRUE(assigned.step(steps_[0]));
    ASSERT_TRUE(refA.step(steps_[0]));
    EXPECT_TRUE(sameBits(assigned.lastLogits(), refA.lastLogits()));
    EXPECT_EQ(parent.position() + 1, assigned.position());
}

TEST_F(CudaSession, RestoreThenStep) {
    Session c = cpu_.newSession();
    ASSERT_TRUE(c.prefill(prompt_));
    Session g = gpu_.newSession();
    ASSERT_TRUE(g.prefill(steps_));  // something else resident first
    ASSERT_TRUE(
        g.restore(c.state(), std::vector<float>(c.lastLogits().begin(), c.lastLogits().end())));
    EXPECT_EQ(g.position(), c.position());
    for (int32_t t : steps_) {
        ASSERT_TRUE(g.step(t));
        ASSERT_TRUE(c.step(t));
    }
    const auto e =
        test::compareRel(g.lastLogits().data(), c.lastLogits().data(), c.lastLogits().size());
    EXPECT_TRUE(e.within(kTol)) << e.describe();
    expectStatesClose(std::as_const(g).state(), c.state(), "restored then stepped");
}

TEST_F(CudaSession, SessionsFreedAndMadeAgain) {
    Session ref = gpu_.newSession();
    ASSERT_TRUE(ref.prefill(prompt_));
    for (int32_t t : steps_) ASSERT_TRUE(ref.step(t));
    // Each round's session may land at a freed session's address: its decode graph must
    // be captured afresh, not replayed from the freed one.
    for (int round = 0; round < 4; ++round) {
        Session s = gpu_.newSession();
        ASSERT_TRUE(s.prefill(prompt_));
        for (int32_t t : steps_) ASSERT_TRUE(s.step(t));
        EXPECT_TRUE(sameBits(s.lastLogits(), ref.lastLogits())) << "round " << round;
        Session moved = std::move(s);
        ASSERT_TRUE(moved.step(steps_[0]));
        EXPECT_EQ(moved.position(), ref.position() + 1);
    }
}

}  // namespace
}  // namespace lectern

namespace lectern {
namespace {

// The fused decode step against the op-by-op one (CudaOptions::fusedDecode false) on the
// same weights and states: fp32 and bf16, batch 1 and 3 (weight-streaming GEMVs with the
// norm prologue / residual epilogue) and 6 (cuBLAS projections, fused mixer), 16 steps
// each from a prefilled state. Both paths do the same float operations in the same order
// except where the compiler contracts differently (tolerances at the comparison)
// (the measured error is printed). In fp32 the fused steps also match the CPU engine
// (1e-4), and the state they leave continues on the CPU. Logits are NaN-poisoned before
// each step (a NaN never passes the comparison).
TEST(CudaDecode, FusedStepEqualsUnfusedAndCpu) {
    for (int round = 0; round < test::rounds(3); ++round) {
        const uint64_t seed = test::freshSeed();
        test::RandomModelSpec spec = test::randomSpec(seed);
        spec.mimoRank = 0;       // the fused path is SISO only
        spec.dIntermediate = 0;  // and without the MLP
        std::printf("seed %llu: %s\n", (unsigned long long)seed, spec.describe().c_str());
        const std::string dir = test::makeTempDir("lectern-cuda-decode");
        ASSERT_TRUE(test::writeRandomModel(dir, spec, seed));
        auto host = test::loadHostModel(dir);
        auto cpu = Model::load(dir, DeviceKind::Cpu);
        std::filesystem::remove_all(dir);
        ASSERT_TRUE(host) << host.error();
        ASSERT_TRUE(cpu) << cpu.error();
        const int64_t V = host->cfg.vocabPadded();
        std::mt19937_64 rng(seed);
        for (cuda::Precision prec : {cuda::Precision::Fp32, cuda::Precision::Bf16}) {
            for (int B : {1, 3, 6}) {
                cuda::CudaOptions fo, uo;
                fo.precision = uo.precision = prec;
                uo.fusedDecode = false;
                auto fused = cuda::CudaModel::create(host->cfg, host->w, fo);
                auto plain = cuda::CudaModel::create(host->cfg, host->w, uo);
                ASSERT_TRUE(fused) << fused.error();
                ASSERT_TRUE(plain) << plain.error();
                auto fs = (*fused)->newStates(B);
                auto ps = (*plain)->newStates(B);
                ASSERT_TRUE(fs && ps);
                const int64_t T = 1 + int64_t(rng() % 40);
                std::vector<int32_t> prompt(size_t(B * T));
                for (auto& t : prompt) t = int32_t(rng() % spec.vocab);
                ASSERT_TRUE(
                    (*fused)->forward(*fs, prompt.data(), T, ScanForm::Chunked, nullptr, nullptr));
                ASSERT_TRUE(
                    (*plain)->forward(*ps, prompt.data(), T, ScanForm::Chunked, nullptr, nullptr));
                Session ref = cpu->newSession();  // document 0 on the CPU
                ASSERT_TRUE(ref.prefill(std::span(prompt).first(size_t(T))));
                std::vector<float> lf(size_t(B * V)), lp(size_t(B * V));
                double worst = 0, worstCpu = 0;
                for (int step = 0; step < 16; ++step) {
                    std::vector<int32_t> ids(static_cast<size_t>(B));
                    for (auto& t : ids) t = int32_t(rng() % spec.vocab);
                    std::fill(lf.begin(), lf.end(), std::nanf(""));
                    std::fill(lp.begin(), lp.end(), std::nanf(""));
                    ASSERT_TRUE((*fused)->decodeStep(*fs, ids.data(), lf.data()));
                    ASSERT_TRUE((*plain)->decodeStep(*ps, ids.data(), lp.data()));
                    // 16 steps compound the contraction differences: once measured at
                    // 1.13e-4 on the H100, so 2e-4 for fp32. In bf16 the two paths round
                    // activations at different points (only at batch 6, the cuBLAS path,
                    // do they differ beyond fp32 noise); a one-ulp flip is 2^-8 locally and
                    // grows over the steps (seen: max_rel 2.1e-3 at nmse 1.1e-6), so 1e-2
                    // as the bf16 GPU-vs-CPU golden test allows, with a tight bound on the
                    // error over all logits.
                    const bool fp32 = prec == cuda::Precision::Fp32;
                    const double tol = fp32 ? 2e-4 : 1e-2;
                    const auto e = test::compareRel(lf.data(), lp.data(), lf.size());
                    ASSERT_TRUE(e.within(tol) && (fp32 || e.nmse <= 1e-5))
                        << "step " << step << " batch " << B << " " << e.describe();
                    worst = std::max(worst, e.maxRel);
                    ASSERT_TRUE(ref.step(ids[0]));
                    if (prec == cuda::Precision::Fp32) {
                        const auto c =
                            test::compareRel(lf.data(), ref.lastLogits().data(), size_t(V));
                        ASSERT_TRUE(c.within(kTol))
                            << "vs CPU, step " << step << " " << c.describe();
                        worstCpu = std::max(worstCpu, c.maxRel);
                    }
                }
                std::printf("  %s batch %d: fused vs op-by-op max_rel %.3e, vs CPU %.3e\n",
                            prec == cuda::Precision::Fp32 ? "fp32" : "bf16", B, worst, worstCpu);
                for (int b = 0; b < B; ++b) {
                    DocumentState a, c;
                    ASSERT_TRUE((*fused)->download(*fs, b, a));
                    ASSERT_TRUE((*plain)->download(*ps, b, c));
                    // bf16: the states inherit the same rounding (seen over 40 rounds: ssm
                    // max_rel 4.4e-3 at nmse 5.6e-6; an angle 3.6e-3 rad off after a dt
                    // rounded one ulp apart, 2^-8 of its step).
                    if (prec == cuda::Precision::Fp32)
                        expectStatesClose(a, c, "fused vs op-by-op");
                    else
                        expectStatesClose(a, c, "fused vs op-by-op (bf16)", 1e-2, 1e-5, 1e-2);
                }
                if (prec != cuda::Precision::Fp32) continue;
                // The fused state continues on the CPU as the CPU's own.
                Session cont = cpu->newSession();
                ASSERT_TRUE((*fused)->download(*fs, 0, cont.state()));
                expectStatesClose(cont.state(), ref.state(), "fused state vs CPU");
                for (int step = 0; step < 3; ++step) {
                    const int32_t t = int32_t(rng() % spec.vocab);
                    ASSERT_TRUE(cont.step(t));
                    ASSERT_TRUE(ref.step(t));
                }
                const auto e =
                    test::compareRel(cont.lastLogits().data(), ref.lastLogits().data(), size_t(V));
                EXPECT_TRUE(e.within(kTol)) << "continued on the CPU: " << e.describe();
                (*fused)->forgetStates(*fs);
                (*plain)->forgetStates(*ps);
            }
        }
    }
}

}  // namespace
}  // namespace lectern

namespace lectern {
namespace {

// Programmatic dependent launch (kernels/decode_pdl.cuh) changes when the fused step's
// kernels start, not what they compute: the same model and prompt stepped with PDL (the
// default on sm_90) and without (LECTERN_DECODE_PDL=0, read when the step's graph is
// captured) give the same logits and states to the bit, bf16 and fp32, batch 1 and 3. A
// kernel that read the previous kernel's output before its griddepcontrol.wait would read
// stale or half-written values and differ here (or differ from run to run).
TEST(CudaDecode, PdlStepsEqualPlainLaunches) {
    for (int round = 0; round < test::rounds(2); ++round) {
        const uint64_t seed = test::freshSeed();
        test::RandomModelSpec spec = test::randomSpec(seed);
        spec.mimoRank = 0;
        spec.dIntermediate = 0;
        std::printf("seed %llu: %s (PDL %s)\n", (unsigned long long)seed, spec.describe().c_str(),
                    cuda::decode_pdl_enabled() ? "on" : "not supported here: both plain");
        const std::string dir = test::makeTempDir("lectern-cuda-pdl");
        ASSERT_TRUE(test::writeRandomModel(dir, spec, seed));
        auto host = test::loadHostModel(dir);
        std::filesystem::remove_all(dir);
        ASSERT_TRUE(host) << host.error();
        const int64_t V = host->cfg.vocabPadded();
        std::mt19937_64 rng(seed);
        for (cuda::Precision prec : {cuda::Precision::Bf16, cuda::Precision::Fp32}) {
            cuda::CudaOptions fo;
            fo.precision = prec;
            auto m = cuda::CudaModel::create(host->cfg, host->w, fo);
            ASSERT_TRUE(m) << m.error();
            for (int B : {1, 3}) {
                auto a = (*m)->newStates(B);
                auto b = (*m)->newStates(B);
                ASSERT_TRUE(a && b);
                const int64_t T = 1 + int64_t(rng() % 40);
                std::vector<int32_t> prompt(size_t(B * T));
                for (auto& t : prompt) t = int32_t(rng() % spec.vocab);
                ASSERT_TRUE(
                    (*m)->forward(*a, prompt.data(), T, ScanForm::Chunked, nullptr, nullptr));
                ASSERT_TRUE(
                    (*m)->forward(*b, prompt.data(), T, ScanForm::Chunked, nullptr, nullptr));
                std::vector<float> la(size_t(B * V)), lb(size_t(B * V));
                for (int step = 0; step < 16; ++step) {
                    std::vector<int32_t> ids(static_cast<size_t>(B));
                    for (auto& t : ids) t = int32_t(rng() % spec.vocab);
                    std::fill(la.begin(), la.end(), std::nanf(""));
                    std::fill(lb.begin(), lb.end(), std::nanf(""));
                    ASSERT_TRUE((*m)->decodeStep(*a, ids.data(), la.data()));
                    setenv("LECTERN_DECODE_PDL", "0", 1);
                    const Status sb = (*m)->decodeStep(*b, ids.data(), lb.data());
                    unsetenv("LECTERN_DECODE_PDL");
                    ASSERT_TRUE(sb) << sb.message();
                    size_t diff = 0;
                    for (size_t i = 0; i < la.size(); ++i)
                        diff += std::memcmp(&la[i], &lb[i], sizeof(float)) != 0;
                    ASSERT_EQ(diff, 0u) << "step " << step << " batch " << B << ": " << diff
                                        << " logits differ between PDL and plain launches";
                }
                for (int d = 0; d < B; ++d) {
                    DocumentState sa, sb;
                    ASSERT_TRUE((*m)->download(*a, d, sa));
                    ASSERT_TRUE((*m)->download(*b, d, sb));
                    expectStatesClose(sa, sb, "PDL vs plain launches");
                }
                (*m)->forgetStates(*a);
                (*m)->forgetStates(*b);
            }
        }
    }
}

}  // namespace
}  // namespace lectern

namespace lectern {
namespace {

// bf16 weights (8 bits of mantissa: 2^-9 relative rounding each) and fp32 accumulation:
// logits within 5e-2 of max|CPU logit| and nmse < 1e-3 (the measured error is printed).
constexpr double kBf16Tol = 5e-2, kBf16Nmse = 1e-3;

TEST(CudaBf16, LoadedModelMatchesCpuOnGoldenCases) {
    const char* env = std::getenv("LECTERN_GOLDEN_DIR");
    const std::string root = env ? env : LECTERN_GOLDEN_DIR;
    int ran = 0;
    for (const char* name : {"siso_tiny", "siso_mlp_norm", "mimo_tiny", "mimo_norm"}) {
        const std::string dir = root + "/" + name;
        if (!std::filesystem::exists(dir + "/io.safetensors")) continue;
        auto cpu = Model::load(dir, DeviceKind::Cpu);
        auto gpu = Model::load(dir, DeviceKind::Cuda);  // the default: bf16
        ASSERT_TRUE(cpu) << cpu.error();
        ASSERT_TRUE(gpu) << gpu.error();
        auto io = io::safetensorsRead(dir + "/io.safetensors");
        ASSERT_TRUE(io) << io.error();
        const auto& t = io->tensors.at("input_ids");
        const int64_t L = t.shape[1];
        std::vector<int32_t> ids(static_cast<size_t>(L));  // document 0
        std::memcpy(ids.data(), t.bytes.data(), ids.size() * 4);
        Session g = gpu->newSession(), c = cpu->newSession();
        ASSERT_TRUE(g.prefill(ids));
        ASSERT_TRUE(c.prefill(ids));
        double worst = 0, worstNmse = 0;
        for (int step = 0; step <= 8; ++step) {
            const auto e = test::compareRel(g.lastLogits().data(), c.lastLogits().data(),
                                            c.lastLogits().size());
            EXPECT_TRUE(e.within(kBf16Tol) && e.nmse < kBf16Nmse)
                << name << " step " << step << ": " << e.describe();
            worst = std::max(worst, e.maxRel);
            worstNmse = std::max(worstNmse, e.nmse);
            const int32_t next = ids[size_t(step) % ids.size()];  // the same tokens on both
            ASSERT_TRUE(g.step(next));
            ASSERT_TRUE(c.step(next));
        }
        std::printf("  %s: bf16 GPU vs CPU logits, prefill + 8 steps: max_rel %.3e nmse %.3e\n",
                    name, worst, worstNmse);
        ++ran;
    }
    if (ran == 0) GTEST_SKIP() << "no golden data under " << root;
}

}  // namespace
}  // namespace lectern
