// The memory-bounded scan backward (training/backward/ssm_scan_backward.cpp: states kept
// only at chunk starts, recomputed chunk by chunk) against the reference that saves every
// state: the recomputation replays the forward's own float operations, so outputs and every
// gradient must be BIT-identical, for chunk sizes that divide T, do not divide it, exceed
// it, and are 1; SISO and MIMO. The seed is printed; LECTERN_TEST_SEED=<n> reruns one.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "fd_check.h"
#include "training/backward/backward_ops.h"

namespace lectern {
namespace {

using test::randn;
using test::uniform;
using V = std::vector<float>;

struct Grads {
    V dq, dk, dx, dadt, ddt, dtrap, dD, dmx;
    explicit Grads(const ops::Mamba3Dims& d, int64_t T)
        : dq(size_t(T * d.R * d.H * d.N)),
          dk(dq.size()),
          dx(size_t(T * d.dInner())),
          dadt(size_t(T * d.H)),
          ddt(dadt.size()),
          dtrap(dadt.size()),
          dD(size_t(d.H)),
          dmx(size_t(d.H * d.R * d.P)) {}
    train::SsmScanGrads refs(bool mimo) {
        return {dq.data(),  dk.data(),    dx.data(), dadt.data(),
                ddt.data(), dtrap.data(), dD.data(), mimo ? dmx.data() : nullptr};
    }
    std::vector<const V*> all() const { return {&dq, &dk, &dx, &dadt, &ddt, &dtrap, &dD, &dmx}; }
};

bool bitEqual(const V& a, const V& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class ScanRecompute : public ::testing::TestWithParam<bool> {};

TEST_P(ScanRecompute, BitIdenticalToSavingEveryState) {
    const bool mimo = GetParam();
    ops::Mamba3Dims d;
    d.H = 3, d.P = 4, d.N = 8, d.G = 1, d.A = 2, d.R = mimo ? 2 : 1, d.mimo = mimo;
    const char* env = std::getenv("LECTERN_TEST_SEED");
    const uint64_t seed = (env ? std::strtoull(env, nullptr, 10) : 11u) * 7919u + (mimo ? 1 : 0);
    std::printf("  seed %llu\n", (unsigned long long)seed);
    std::mt19937_64 rng(seed);
    const int64_t T = 37, RHN = int64_t(d.R) * d.H * d.N;
    V q = randn(T * RHN, rng), k = randn(T * RHN, rng), x = randn(T * d.dInner(), rng);
    V dt = uniform(T * d.H, rng, 0.05f, 0.6f), trap = uniform(T * d.H, rng, 0.1f, 0.9f);
    V adt = uniform(T * d.H, rng, -1.0f, -0.01f), D = randn(d.H, rng);
    V mx = randn(d.H * d.R * d.P, rng, 0.5f, 0.3f), dy = randn(T * d.R * d.dInner(), rng);
    const ops::SsmScanInputs in{q.data(),    k.data(),   x.data(),
                                d.dInner(),  adt.data(), dt.data(),
                                trap.data(), D.data(),   mimo ? mx.data() : nullptr};

    V yRef(size_t(T * d.R * d.dInner())), hs(size_t(T * d.H * d.P * d.N));
    train::ssm_scan_forward_save(d, in, T, yRef.data(), hs.data());
    Grads ref(d, T);
    train::ssm_scan_backward(d, in, hs.data(), T, dy.data(), ref.refs(mimo));

    for (int64_t chunk : {1, 5, 16, 37, 64}) {
        SCOPED_TRACE("chunk " + std::to_string(chunk));
        V y(yRef.size()), starts(size_t(train::ssm_scan_checkpoints(T, chunk) * d.H * d.P * d.N));
        train::ssm_scan_forward_checkpoint(d, in, T, chunk, y.data(), starts.data());
        EXPECT_TRUE(bitEqual(y, yRef));
        Grads g(d, T);
        train::ssm_scan_backward_recompute(d, in, starts.data(), T, chunk, dy.data(), g.refs(mimo));
        const auto a = g.all(), b = ref.all();
        for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(bitEqual(*a[i], *b[i])) << "grad " << i;
    }
}

INSTANTIATE_TEST_SUITE_P(SisoMimo, ScanRecompute, ::testing::Values(false, true));

}  // namespace
}  // namespace lectern
