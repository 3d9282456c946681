// Helpers shared by the CUDA backward-op tests (test_cuda_backward_ops.cpp and
// test_cuda_backward_fused.cpp, one binary): the relative-error check that prints its figures,
// a synchronising launch check, and random mixer shapes.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "ops/mamba3_dims.h"
#include "tensor_check.h"

namespace lectern::test {

inline void expectRel(const std::vector<float>& gpu, const std::vector<float>& cpu, double tol,
                      const std::string& what) {
    ASSERT_EQ(gpu.size(), cpu.size());
    const auto e = compareRel(gpu.data(), cpu.data(), gpu.size());
    std::printf("  %-30s %s (tol %.0e)\n", what.c_str(), e.describe().c_str(), tol);
    EXPECT_TRUE(e.within(tol)) << what << ": " << e.describe();
}

inline void syncDevice() {
    ASSERT_EQ(cudaGetLastError(), cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

inline int64_t pick(std::mt19937_64& rng, int64_t lo, int64_t hi) {
    return lo + int64_t(rng() % uint64_t(hi - lo + 1));
}

// Random mixer dims: SISO (R = 1) or MIMO (R 2..4), G dividing H, even N.
inline ops::Mamba3Dims randomDims(std::mt19937_64& rng, bool mimo) {
    ops::Mamba3Dims d;
    d.H = int(pick(rng, 1, 6));
    d.G = (d.H % 2 == 0 && rng() % 2) ? 2 : 1;
    d.P = int(pick(rng, 1, 150));
    d.N = 2 * int(pick(rng, 1, 48));
    d.A = int(pick(rng, 1, d.N / 2));
    d.mimo = mimo;
    d.R = mimo ? int(pick(rng, 2, 4)) : 1;
    d.aFloor = 0.3f;  // large enough that some dd_A values clamp
    d.eps = 1e-5f;
    return d;
}

inline std::string dimsStr(const ops::Mamba3Dims& d) {
    char b[128];
    std::snprintf(b, sizeof b, "H=%d P=%d N=%d R=%d G=%d A=%d mimo=%d", d.H, d.P, d.N, d.R, d.G,
                  d.A, int(d.mimo));
    return b;
}

}  // namespace lectern::test
