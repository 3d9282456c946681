// The training backward against ../shared/golden/<case>/grads.safetensors (autograd
// through the official implementation): the loss within 1e-5 and every parameter
// gradient within 1e-4 (max|ours − ref| / max|ref|, NaN never passes), for all 4 cases.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "training/golden_grads_check.h"
#include "training/model_io.h"

namespace lectern {
namespace {

class TrainGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(TrainGolden, LossAndEveryGradientMatchAutograd) {
    const std::string dir = std::string(LECTERN_GOLDEN_DIR) + "/" + GetParam();
    if (!std::filesystem::exists(dir + "/grads.safetensors"))
        GTEST_SKIP() << "no golden gradients at " << dir;
    auto m = train::loadTrainModel(dir);
    ASSERT_TRUE(m) << m.error();
    int64_t B = 0, L = 0;
    auto ids = train::readInputIds(dir + "/io.safetensors", B, L);
    ASSERT_TRUE(ids) << ids.error();
    auto ours = train::computeGrads(*m, *ids, B, L);
    ASSERT_TRUE(ours) << ours.error();
    test::expectMatchesGoldenGrads(dir, *ours);
}

INSTANTIATE_TEST_SUITE_P(AllCases, TrainGolden,
                         ::testing::Values("siso_tiny", "siso_mlp_norm", "mimo_tiny", "mimo_norm"));

}  // namespace
}  // namespace lectern
