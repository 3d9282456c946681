// The training backward against ../shared/golden/<case>/grads.safetensors (autograd
// through the official implementation): the loss within 1e-5 and every parameter
// gradient within 1e-4 (max|ours − ref| / max|ref|, NaN never passes), for all 4 cases.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "engine/tensor_check.h"
#include "io/safetensors.h"
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
    auto ref = io::safetensorsRead(dir + "/grads.safetensors");
    ASSERT_TRUE(ref) << ref.error();

    double refLoss = 0.0;
    std::memcpy(&refLoss, ref->tensors.at("loss").bytes.data(), sizeof(double));
    std::printf("  loss ours %.10f ref %.10f diff %.2e\n", ours->loss, refLoss,
                std::fabs(ours->loss - refLoss));
    EXPECT_LE(std::fabs(ours->loss - refLoss), 1e-5);
    int compared = 0;
    for (auto& [name, refT] : ref->tensors) {
        if (name.rfind("grad.", 0) != 0) continue;
        auto it = ours->tensors.find(name);
        ASSERT_NE(it, ours->tensors.end()) << "we produce no " << name;
        ASSERT_EQ(it->second.shape, refT.shape) << name;
        auto a = it->second.toFloat32();
        auto b = refT.toFloat32();
        ASSERT_TRUE(a && b);
        const test::ErrorStats e = test::compareRel(a->data(), b->data(), a->size());
        std::printf("  %-48s %s\n", name.c_str(), e.describe().c_str());
        EXPECT_TRUE(e.within(1e-4)) << name << ": " << e.describe();
        ++compared;
    }
    EXPECT_EQ(compared + 2, int(ours->tensors.size())) << "tensor sets differ";
}

INSTANTIATE_TEST_SUITE_P(AllCases, TrainGolden,
                         ::testing::Values("siso_tiny", "siso_mlp_norm", "mimo_tiny", "mimo_norm"));

}  // namespace
}  // namespace lectern
