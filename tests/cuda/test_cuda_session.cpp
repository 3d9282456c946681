// A Session on the GPU keeps its state resident on the device between calls (issue 4):
// N steps with the state left there give bit-for-bit the result of N steps with a host
// sync (and a re-upload) after each; a fork is copied device to device and independent of
// its parent; state() after prefill equals the CPU engine's within the golden tolerance;
// restore() then step continues the restored state; sessions freed and made again reuse
// device memory without stale decode graphs. Through the public API, on a random model.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <utility>

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

void expectStatesClose(const DocumentState& a, const DocumentState& b, const char* what) {
    ASSERT_EQ(a.layers().size(), b.layers().size()) << what;
    EXPECT_EQ(a.position(), b.position()) << what;
    for (size_t i = 0; i < a.layers().size(); ++i) {
        const LayerState &x = a.layers()[i], &y = b.layers()[i];
        const auto ea = test::compareAngle(x.angle.data(), y.angle.data(), x.angle.size());
        EXPECT_TRUE(ea.within(kAngleTol)) << what << " layer " << i << " angle " << ea.describe();
        for (auto [p, q, name] : {std::tuple{&x.ssm, &y.ssm, "ssm"}, std::tuple{&x.k, &y.k, "k"},
                                  std::tuple{&x.v, &y.v, "v"}}) {
            const auto e = test::compareRel(p->data(), q->data(), p->size());
            EXPECT_TRUE(e.within(kTol))
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
        auto gpu = Model::load(dir, DeviceKind::Cuda);
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
