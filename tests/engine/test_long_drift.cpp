// RELIABILITY NUM-2 on the CPU: a long document through the fp32 engine (chunked, as prefill
// reads, and the recurrent step, as decode does) against the double-precision reference;
// the states' relative errors and the angles' circular error stay within the bounds below,
// and nothing is NaN or inf. The CPU half of the check; tests/cuda/test_cuda_long_drift.cpp
// runs 1M tokens there with the GPU engines beside it. LECTERN_DRIFT_TOKENS sets the length
// (nightly: 1048576); CI reads 16,384 tokens.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "drift_check.h"

namespace lectern {
namespace {

// Bounds for fp32 against fp64, linear in the length (documented in NOTES-gpu.md, "NUM-2"):
// an angle is a sum of ~0.1 rad a token, so fp32's relative accuracy in each increment
// (~1e-7, not all of it zero-mean) moves it by up to ~1e-8 rad a token, and the states are
// held in the rotated frame: 5.5e-3 rad and 5.5e-3 measured after 1M tokens.
double fp32Bound(int64_t tokens) {
    return 2e-4 + 1e-8 * double(tokens);
}

class LongDrift : public ::testing::TestWithParam<int> {};  // MIMO rank (0: SISO)

TEST_P(LongDrift, Fp32StaysWithinBoundsOfFp64) {
    const test::RandomModelSpec spec = test::driftSpec(GetParam());
    const uint64_t seed = 20261122 + uint64_t(GetParam());
    const std::string dir = test::makeTempDir("lectern-drift");
    ASSERT_TRUE(test::writeRandomModel(dir, spec, seed));
    auto model = Model::load(dir);
    ASSERT_TRUE(model) << model.error();
    const int64_t n = test::driftLength(16384);
    std::vector<int64_t> marks;
    for (int64_t m = 4096; m < n; m *= 4) marks.push_back(m);
    marks.push_back(n);
    std::printf("%s, %lld tokens\n", spec.describe().c_str(), (long long)n);
    std::string error;
    const auto rows = test::measureDrift(dir, test::driftTokens(seed, n, spec.vocab), marks,
                                         {{"cpu fp32", &*model, fp32Bound}}, error);
    std::filesystem::remove_all(dir);
    ASSERT_TRUE(error.empty()) << error;
    for (const auto& r : rows) EXPECT_TRUE(r.withinBound) << r.describe();
}

INSTANTIATE_TEST_SUITE_P(SisoAndMimo, LongDrift, ::testing::Values(0, 2));

}  // namespace
}  // namespace lectern
