// Issues 4 and 5: the bf16 GEMMs of the prefill and of the ~125M training step through
// cuBLASLt (engine/cuda/gemm_lt.h). For each shape: cublasGemmEx(DEFAULT) as the code had
// it, then every candidate of the Lt heuristic (up to 32), each timed with CUDA events
// (2 warm-up runs, the median of 10) and run twice on the same inputs to check that its
// bits repeat (the first 64 MiB of the output). Prints the candidates, a summary line a shape, and
// table lines for kernels/gemm_lt.cu's kSm90Winners where a repeatable candidate beats the
// heuristic's first by more than 2%. Not a test: run by hand on the GPU machine (numbers go to
// NOTES-gpu.md).
//   bench_gemm_lt [prefill|train|all]
//   bench_gemm_lt search [SECONDS [ID]]   (bench_gemm_search.cpp: beyond the heuristic, the
//                                          prefill's projections; SECONDS of timing a shape)
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_gemm_lt.h"
#include "cuda/cuda_ops.h"

namespace {

using lectern::cuda::LtGemm;

constexpr int kRows = 16384;  // 8 x 2,048 and 1 x 16,384 (prefill); 4 x 4,096 (training)
constexpr int kV = 50280;     // vocab (padded to 8)
// Prefill (d_model 2048, d_inner 4096, in_proj 8672 outputs); out = in · Wᵀ is (T, N).
const Shape kPrefill[] = {
    {"prefill in_proj fp32-out", true, false, 8672, kRows, 2048, false, false},
    {"prefill in_proj bf16-out", true, false, 8672, kRows, 2048, true, false},
    {"prefill out_proj", true, false, 2048, kRows, 4096, false, false},
    {"prefill out_proj +=residual", true, false, 2048, kRows, 4096, false, true},
};
// Training ~125M (D 768, d_inner 1536, in_proj 3432 outputs): forward (T, N); backward
// dgrad (N, N) with din written, wgrad (N, T) accumulated (linear_backward.cu).
const Shape kTrain[] = {
    {"train fwd in_proj", true, false, 3432, kRows, 768, false, false},
    {"train fwd out_proj", true, false, 768, kRows, 1536, false, false},
    {"train fwd lm_head", true, false, kV, kRows, 768, false, false},
    {"train bwd in_proj dgrad", false, false, 768, kRows, 3432, false, false},
    {"train bwd in_proj wgrad", false, true, 768, 3432, kRows, false, true},
    {"train bwd out_proj dgrad", false, false, 1536, kRows, 768, false, false},
    {"train bwd out_proj wgrad", false, true, 1536, 768, kRows, false, true},
    {"train bwd lm_head dgrad", false, false, 768, kRows, kV, false, false},
    {"train bwd lm_head wgrad", false, true, 768, kV, kRows, false, true},
};

}  // namespace

Operands::Operands(const Shape& s) {
    const size_t aElems = size_t(s.m) * s.k, bElems = size_t(s.k) * s.n, dElems = size_t(s.m) * s.n;
    dBytes = dElems * (s.outBf16 ? 2 : 4);
    float* tmp = nullptr;
    cudaMalloc(&tmp, std::max(aElems, bElems) * 4);
    cudaMalloc(&A, aElems * 2);
    cudaMalloc(&B, bElems * 2);
    cudaMalloc(&D, dBytes);
    cudaMalloc(&D0, dBytes);
    lectern::cuda::fill_uniform(tmp, int64_t(aElems), -1, 1, 1, nullptr);
    lectern::cuda::to_bf16(A, tmp, int64_t(aElems), nullptr);
    lectern::cuda::fill_uniform(tmp, int64_t(bElems), -1, 1, 2, nullptr);
    lectern::cuda::to_bf16(B, tmp, int64_t(bElems), nullptr);
    cudaMemset(D0, 0, dBytes);
    if (s.accumulate && !s.outBf16) {
        cudaFree(tmp);
        cudaMalloc(&tmp, dElems * 4);
        lectern::cuda::fill_uniform(tmp, int64_t(dElems), -1, 1, 3, nullptr);
        cudaMemcpy(D0, tmp, dBytes, cudaMemcpyDeviceToDevice);
    }
    cudaFree(tmp);
    g.transA = s.transA, g.transB = s.transB;
    g.m = s.m, g.n = s.n, g.k = s.k;
    g.A = A, g.lda = s.transA ? s.k : s.m;
    g.B = B, g.ldb = s.transB ? s.n : s.k;
    g.D = D, g.ldd = s.m, g.outBf16 = s.outBf16, g.accumulate = s.accumulate;
}

Operands::~Operands() {
    cudaFree(A);
    cudaFree(B);
    cudaFree(D);
    cudaFree(D0);
}

std::vector<unsigned char> Operands::runOnce(Bench& b, const cublasLtMatmulAlgo_t& algo,
                                             int* status) {
    cudaMemcpy(D, D0, dBytes, cudaMemcpyDeviceToDevice);
    *status = lectern::cuda::gemm_lt_run_algo(b.lt, g, algo, b.ws, b.wsBytes, nullptr);
    cudaDeviceSynchronize();
    return headBytes(D, dBytes);
}

namespace {

void runShape(Bench& b, const Shape& s) {
    Operands o(s);
    const LtGemm& g = o.g;
    void *A = o.A, *B = o.B, *D = o.D;
    const double flop = 2.0 * s.m * s.n * s.k;
    auto tflops = [&](double ms) { return flop / (ms * 1e-3) / 1e12; };

    // The code before: cublasGemmEx with the default algorithm.
    const float one = 1.0f, beta = s.accumulate ? 1.0f : 0.0f;
    cublasSetMathMode(b.h, CUBLAS_DEFAULT_MATH);
    auto gemmEx = [&] {
        cublasGemmEx(b.h, s.transA ? CUBLAS_OP_T : CUBLAS_OP_N,
                     s.transB ? CUBLAS_OP_T : CUBLAS_OP_N, s.m, s.n, s.k, &one, A, CUDA_R_16BF,
                     g.lda, B, CUDA_R_16BF, g.ldb, &beta, D, s.outBf16 ? CUDA_R_16BF : CUDA_R_32F,
                     g.ldd, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    };
    const double exMs = medianMs(gemmEx, 2, 10);

    std::vector<cublasLtMatmulHeuristicResult_t> cands;
    const int hs = lectern::cuda::gemm_lt_candidates(b.lt, g, b.wsBytes, 32, cands);
    lectern::cuda::LtAlgoConfig tableCfg;
    const bool inTable = lectern::cuda::gemm_lt_table_config(g, b.sm, tableCfg);
    int chosen = 0;  // gemm_lt_run takes the table's configuration or the first
    for (size_t i = 0; inTable && i < cands.size(); ++i)
        if (lectern::cuda::same_config(lectern::cuda::gemm_lt_config(cands[i].algo), tableCfg))
            chosen = int(i);
    std::printf(
        "\n== %s: m %d n %d k %d (%s%s), %.1f GFLOP; GemmEx %.3f ms %.0f TFLOP/s; "
        "heuristic status %d, %zu candidates, table pick %d\n",
        s.name, s.m, s.n, s.k, s.outBf16 ? "bf16 out" : "fp32 out", s.accumulate ? ", beta 1" : "",
        flop / 1e9, exMs, tflops(exMs), hs, cands.size(), chosen);
    std::printf(
        "  idx    ms  TFLOP/s repeat    vs#0  id tile stages splitK red swz custom cluster inner "
        "ws_MiB\n");
    std::vector<unsigned char> ref0;
    double firstMs = 0, bestMs = 1e30, chosenMs = 0;
    int best = -1;
    for (size_t i = 0; i < cands.size(); ++i) {
        const auto& algo = cands[i].algo;
        auto run = [&] {
            lectern::cuda::gemm_lt_run_algo(b.lt, g, algo, b.ws, b.wsBytes, nullptr);
        };
        int st = 0, st2 = 0;
        const auto h1 = o.runOnce(b, algo, &st);
        const bool repeat = st == 0 && o.runOnce(b, algo, &st2) == h1;
        if (i == 0) ref0 = h1;
        const double diff = relDiff(h1, ref0, s.outBf16);
        const double ms = st == 0 ? medianMs(run, 2, 10) : -1;
        const auto c = lectern::cuda::gemm_lt_config(algo);
        std::printf("  %3zu %7.3f %7.0f %6s %7.1e %3d %4d %6d %6d %3d %3d %6d %7d %5d %6.1f%s\n", i,
                    ms, ms > 0 ? tflops(ms) : 0.0, repeat ? "yes" : "NO", diff, c.id, c.tile,
                    c.stages, c.splitK, c.reduction, c.swizzle, c.custom, c.cluster, c.inner,
                    double(cands[i].workspaceSize) / (1 << 20),
                    int(i) == chosen ? "  <- used" : "");
        if (i == 0 && !inTable) chosen = 0;
        if (i == 0) firstMs = ms;
        if (int(i) == chosen) chosenMs = ms;
        // A winner must repeat its bits and agree with the first candidate (bf16 products
        // summed in another order: well under 1e-2 of the largest output).
        if (repeat && diff < 1e-2 && ms > 0 && ms < bestMs) bestMs = ms, best = int(i);
    }
    if (best >= 0) {
        std::printf(
            "SUMMARY %-28s GemmEx %.3f ms (%.0f TF) | Lt first %.3f (%.0f TF) | used %.3f "
            "(%.0f TF) | best #%d %.3f ms (%.0f TF)\n",
            s.name, exMs, tflops(exMs), firstMs, tflops(firstMs), chosenMs, tflops(chosenMs), best,
            bestMs, tflops(bestMs));
        if (best != 0 && bestMs < 0.98 * firstMs)
            printTableLine(s, lectern::cuda::gemm_lt_config(cands[size_t(best)].algo), bestMs,
                           firstMs);
    }
    (void)A, (void)B, (void)D;
}

}  // namespace

void printTableLine(const Shape& s, const lectern::cuda::LtAlgoConfig& c, double ms,
                    double firstMs) {
    std::printf(
        "TABLE {%s, %s, %d, %d, %d, %s, %s, {%d, %d, %d, %d, %d, %d, %d, %d, %d}},  "
        "// %s: %.3f vs %.3f ms\n",
        s.transA ? "true" : "false", s.transB ? "true" : "false", s.m, s.n, s.k,
        s.outBf16 ? "true" : "false", s.accumulate ? "true" : "false", c.id, c.tile, c.stages,
        c.splitK, c.reduction, c.swizzle, c.custom, c.cluster, c.inner, s.name, ms, firstMs);
}

int main(int argc, char** argv) {
    const std::string which = argc > 1 ? argv[1] : "all";
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
        std::printf("SKIPPED: no CUDA device\n");
        return 77;
    }
    Bench b;
    int major = 0, minor = 0;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0);
    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0);
    b.sm = major * 10 + minor;
    if (cublasCreate(&b.h) != CUBLAS_STATUS_SUCCESS ||
        cublasLtCreate(&b.lt) != CUBLAS_STATUS_SUCCESS ||
        cudaMalloc(&b.ws, b.wsBytes) != cudaSuccess) {
        std::fprintf(stderr, "bench_gemm_lt: cuBLAS setup failed\n");
        return 1;
    }
    std::printf("bench_gemm_lt: sm_%d, cuBLASLt %zu, workspace %zu MiB\n", b.sm,
                cublasLtGetVersion(), b.wsBytes >> 20);
    if (which == "search") {
        const double seconds = argc > 2 ? std::atof(argv[2]) : 20.0;
        const int onlyId = argc > 3 ? std::atoi(argv[3]) : -1;
        for (const Shape& s : kPrefill)
            if (s.accumulate || std::strstr(s.name, "in_proj")) searchShape(b, s, seconds, onlyId);
    }
    if (which == "prefill" || which == "all")
        for (const Shape& s : kPrefill) runShape(b, s);
    if (which == "train" || which == "all")
        for (const Shape& s : kTrain) runShape(b, s);
    cudaFree(b.ws);
    cublasLtDestroy(b.lt);
    cublasDestroy(b.h);
    return 0;
}
