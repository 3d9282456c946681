// bench_gemm_lt's shared pieces: a GEMM shape, its operands on the device, timing and
// output comparison (bench_gemm_lt.cpp: the heuristic's candidates; bench_gemm_search.cpp:
// every algorithm id and configuration).
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "cuda/cuda_ops.h"
#include "cuda/gemm_lt.h"

struct Shape {
    const char* name;
    bool transA, transB;
    int m, n, k;
    bool outBf16, accumulate;
};

struct Bench {
    cublasHandle_t h = nullptr;
    cublasLtHandle_t lt = nullptr;
    void* ws = nullptr;
    size_t wsBytes = size_t(32) << 20;  // as Context's
    int sm = 0;
};

// A, B random bf16 in [-1, 1]; D0 what D starts from (zeros, or random where beta is 1).
struct Operands {
    void *A = nullptr, *B = nullptr, *D = nullptr, *D0 = nullptr;
    size_t dBytes = 0;
    lectern::cuda::LtGemm g;
    explicit Operands(const Shape& s);
    ~Operands();
    Operands(const Operands&) = delete;
    Operands& operator=(const Operands&) = delete;
    // One run from D0; the head of D after it (status in *status).
    std::vector<unsigned char> runOnce(Bench& b, const cublasLtMatmulAlgo_t& algo, int* status);
};

template <typename F>
inline double medianMs(F&& run, int warm, int reps) {
    for (int i = 0; i < warm; ++i) run();
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
        cudaEventRecord(e0);
        run();
        cudaEventRecord(e1);
        cudaEventSynchronize(e1);
        float ms = 0;
        cudaEventElapsedTime(&ms, e0, e1);
        t.push_back(ms);
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

// The first 64 MiB of D (many tiles, enough to see a reduction that does not repeat).
inline std::vector<unsigned char> headBytes(const void* p, size_t bytes) {
    std::vector<unsigned char> h(std::min(bytes, size_t(64) << 20));
    cudaMemcpy(h.data(), p, h.size(), cudaMemcpyDeviceToHost);
    return h;
}

// max |x - ref| / max |ref| over two output heads (fp32 or bf16 elements).
inline double relDiff(const std::vector<unsigned char>& x, const std::vector<unsigned char>& ref,
                      bool bf16) {
    auto at = [&](const std::vector<unsigned char>& v, size_t i) {
        uint32_t u = 0;
        if (bf16) {
            std::memcpy(&u, v.data() + 2 * i, 2);
            u <<= 16;
        } else {
            std::memcpy(&u, v.data() + 4 * i, 4);
        }
        float f;
        std::memcpy(&f, &u, 4);
        return double(f);
    };
    const size_t n = std::min(x.size(), ref.size()) / (bf16 ? 2 : 4);
    double maxRef = 0, maxDiff = 0;
    for (size_t i = 0; i < n; ++i) {
        maxRef = std::max(maxRef, std::abs(at(ref, i)));
        maxDiff = std::max(maxDiff, std::abs(at(x, i) - at(ref, i)));
    }
    return maxRef > 0 ? maxDiff / maxRef : maxDiff;
}

// A line of kernels/gemm_lt.cu's kSm90Winners (also what LECTERN_GEMM_LT_TABLE reads).
void printTableLine(const Shape& s, const lectern::cuda::LtAlgoConfig& c, double ms,
                    double firstMs);
// The search over every algorithm id's configurations for s (or onlyId's, where >= 0), timing
// for about `seconds`.
void searchShape(Bench& b, const Shape& s, double seconds, int onlyId);
