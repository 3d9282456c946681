// A CPU and a GPU trainer run of the same steps agree, step by step: the same number of
// losses, NaN exactly at the injected step (skipped on both), every other step finite and
// within tol nats of the CPU's, and the curve going down. Shared by test_cuda_train and
// test_cuda_lora.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

namespace lectern::test {

inline void expectLossCurvesAgree(const std::vector<double>& cpu, const std::vector<double>& gpu,
                                  size_t steps, size_t nanStep, double tol) {
    ASSERT_EQ(cpu.size(), steps);
    ASSERT_EQ(gpu.size(), steps);
    EXPECT_TRUE(std::isnan(gpu[nanStep]));
    for (size_t i = 0; i < steps; ++i) {
        std::printf("  step %2zu loss cpu %.6f gpu %.6f\n", i + 1, cpu[i], gpu[i]);
        if (i == nanStep) continue;
        EXPECT_TRUE(std::isfinite(gpu[i])) << i;
        EXPECT_LE(std::fabs(gpu[i] - cpu[i]), tol) << "step " << i + 1;
    }
    EXPECT_LT(gpu.back(), gpu.front());
}

}  // namespace lectern::test
