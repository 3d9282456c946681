// Test helpers for the CUDA backend: device arrays with guard regions (sentinels before
// and after, checked after each launch: an out-of-bounds write fails the test), outputs
// poisoned with NaN before each run (an unwritten element fails the comparison), fresh
// random inputs with the seed printed (LECTERN_TEST_SEED replays one), and the host model
// loader the GPU tests share.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/weights.h"

namespace lectern::test {

inline uint64_t freshSeed() {
    if (const char* e = std::getenv("LECTERN_TEST_SEED")) return std::strtoull(e, nullptr, 10);
    std::random_device rd;
    return (uint64_t(rd()) << 32) ^ rd();
}

// Random rounds per test; LECTERN_TEST_ROUNDS lowers it (compute-sanitizer runs are slow).
inline int rounds(int dflt) {
    if (const char* e = std::getenv("LECTERN_TEST_ROUNDS")) return std::max(1, std::atoi(e));
    return dflt;
}

class DevArray {
public:
    static constexpr size_t kGuard = 64;
    static constexpr float kSentinel = -7.77e33f;

    explicit DevArray(size_t n) : n_(n) {
        EXPECT_EQ(cudaMalloc(&base_, (n + 2 * kGuard) * sizeof(float)), cudaSuccess);
        std::vector<float> g(n + 2 * kGuard, kSentinel);
        for (size_t i = 0; i < n; ++i) g[kGuard + i] = std::nanf("");  // poisoned
        cudaMemcpy(base_, g.data(), g.size() * sizeof(float), cudaMemcpyHostToDevice);
    }
    explicit DevArray(const std::vector<float>& v) : DevArray(v.size()) { set(v); }
    DevArray(const DevArray&) = delete;
    DevArray& operator=(const DevArray&) = delete;
    ~DevArray() { cudaFree(base_); }

    float* p() const { return base_ + kGuard; }
    void set(const std::vector<float>& v) {
        cudaMemcpy(p(), v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice);
    }
    std::vector<float> get() const {
        std::vector<float> v(n_);
        cudaMemcpy(v.data(), p(), n_ * sizeof(float), cudaMemcpyDeviceToHost);
        return v;
    }
    bool guardsIntact() const {
        std::vector<float> g(n_ + 2 * kGuard);
        cudaMemcpy(g.data(), base_, g.size() * sizeof(float), cudaMemcpyDeviceToHost);
        for (size_t i = 0; i < kGuard; ++i)
            if (g[i] != kSentinel || g[kGuard + n_ + i] != kSentinel) return false;
        return true;
    }

private:
    float* base_ = nullptr;
    size_t n_;
};

inline std::vector<float> uniform(std::mt19937_64& rng, size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(n);
    for (float& x : v) x = u(rng);
    return v;
}

// A bf16 bit pattern (as a device array of __nv_bfloat16 holds it) as a float: exact.
inline float fromBf16(uint16_t h) {
    const uint32_t u = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// n bf16 values from the device.
inline std::vector<float> getBf16(const void* dev, size_t n) {
    std::vector<uint16_t> h(n);
    cudaMemcpy(h.data(), dev, n * 2, cudaMemcpyDeviceToHost);
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = fromBf16(h[i]);
    return v;
}

struct HostModel {
    model::ModelConfig cfg;
    model::ModelWeights w;
};

Expected<HostModel> loadHostModel(const std::string& dir);

}  // namespace lectern::test
