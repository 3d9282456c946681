// The comparison both golden-gradient tests make (CPU: test_train_golden, GPU:
// test_cuda_train): `ours` against <dir>/grads.safetensors (autograd through the official
// implementation), the loss within 1e-5 and every parameter gradient within 1e-4
// (max|ours − ref| / max|ref|, NaN never passes), and no tensor missing or extra.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "engine/tensor_check.h"
#include "io/safetensors.h"
#include "training/model_io.h"

namespace lectern::test {

inline void expectMatchesGoldenGrads(const std::string& dir, const train::GradsResult& ours) {
    auto ref = io::safetensorsRead(dir + "/grads.safetensors");
    ASSERT_TRUE(ref) << ref.error();
    double refLoss = 0.0;
    std::memcpy(&refLoss, ref->tensors.at("loss").bytes.data(), sizeof(double));
    std::printf("  loss ours %.10f ref %.10f diff %.2e\n", ours.loss, refLoss,
                std::fabs(ours.loss - refLoss));
    EXPECT_LE(std::fabs(ours.loss - refLoss), 1e-5);
    int compared = 0;
    for (auto& [name, refT] : ref->tensors) {
        if (name.rfind("grad.", 0) != 0) continue;
        auto it = ours.tensors.find(name);
        ASSERT_NE(it, ours.tensors.end()) << "we produce no " << name;
        ASSERT_EQ(it->second.shape, refT.shape) << name;
        auto a = it->second.toFloat32();
        auto b = refT.toFloat32();
        ASSERT_TRUE(a && b);
        const ErrorStats e = compareRel(a->data(), b->data(), a->size());
        std::printf("  %-48s %s\n", name.c_str(), e.describe().c_str());
        EXPECT_TRUE(e.within(1e-4)) << name << ": " << e.describe();
        ++compared;
    }
    EXPECT_EQ(compared + 2, int(ours.tensors.size())) << "tensor sets differ";
}

}  // namespace lectern::test
