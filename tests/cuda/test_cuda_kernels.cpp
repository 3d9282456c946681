// The row-wise CUDA ops against their CPU twins on fresh random inputs of ragged sizes:
// embedding, rmsnorm, add_rmsnorm, linear (fp32, tf32, bf16), lm_head (last-row stride),
// gated_mlp, mamba3_gate, the decode GEMV. Outputs poisoned with NaN, guard regions checked.
// Tolerances (max|gpu − cpu| / max|cpu|), and why:
//   exact copies 0; norms 1e-5 (fp32 sums on the GPU, double on the CPU: ~1e-7 measured
//   scale, 100× margin); fp32 GEMM 1e-5 (sum order only, K <= 700); tf32 5e-3 (10-bit
//   mantissa operands: ~5e-4 expected); bf16 6e-2 and nmse 1e-3 (8-bit mantissa operands:
//   each product is off by up to 2^-8 relative, and at small K a dot product of uniform
//   values can cancel to well under Σ|x·w|; 2.3e-2 was seen at K = 13 on an H100).
#include <cublas_v2.h>

#include "cuda/cuda_ops.h"
#include "cuda/gemm_lt.h"
#include "cuda_test_util.h"
#include "ops/add_rmsnorm.h"
#include "ops/embedding.h"
#include "ops/gated_mlp.h"
#include "ops/linear.h"
#include "ops/mamba3_gate.h"
#include "ops/rmsnorm.h"
#include "tensor_check.h"

namespace lectern {
namespace {

using test::DevArray;

const int kRounds = test::rounds(4);

void expectRel(const std::vector<float>& gpu, const std::vector<float>& cpu, double tol,
               const std::string& what) {
    ASSERT_EQ(gpu.size(), cpu.size());
    const auto e = test::compareRel(gpu.data(), cpu.data(), gpu.size());
    std::printf("  %-34s %s (tol %.0e)\n", what.c_str(), e.describe().c_str(), tol);
    EXPECT_TRUE(e.within(tol)) << what << ": " << e.describe();
    if (tol > 1e-2) {
        EXPECT_LE(e.nmse, 1e-3) << what << ": " << e.describe();
    }
}

void sync() {
    ASSERT_EQ(cudaGetLastError(), cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

TEST(CudaKernels, EmbeddingAndNorms) {
    for (int round = 0; round < kRounds; ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        const int64_t rows = 1 + int64_t(rng() % 97), D = 1 + int64_t(rng() % 700), V = 37;
        std::printf("seed %llu rows=%lld D=%lld\n", (unsigned long long)seed, (long long)rows,
                    (long long)D);
        std::vector<int32_t> ids(static_cast<size_t>(rows));
        for (auto& i : ids) i = int32_t(rng() % V);
        const auto table = test::uniform(rng, size_t(V * D), -2, 2);
        const auto w = test::uniform(rng, size_t(D), 0.5f, 1.5f);
        const auto x = test::uniform(rng, size_t(rows * D), -3, 3);
        const auto delta = test::uniform(rng, size_t(rows * D), -1, 1);
        int32_t* dIds = nullptr;
        cudaMalloc(&dIds, ids.size() * 4);
        cudaMemcpy(dIds, ids.data(), ids.size() * 4, cudaMemcpyHostToDevice);
        DevArray dTable(table), dW(w), dX(x), dDelta(delta), out(size_t(rows * D));
        std::vector<float> ref(size_t(rows * D));

        cuda::embedding_forward(out.p(), dIds, rows, dTable.p(), D, nullptr);
        sync();
        cpu::embedding_forward(ref.data(), ids.data(), rows, table.data(), D);
        expectRel(out.get(), ref, 0.0, "embedding");
        EXPECT_TRUE(out.guardsIntact());

        DevArray out2(size_t(rows * D));
        cuda::rmsnorm_forward(out2.p(), dX.p(), dW.p(), rows, D, 1e-5f, nullptr);
        sync();
        cpu::rmsnorm_forward(ref.data(), x.data(), w.data(), rows, D, 1e-5f);
        expectRel(out2.get(), ref, 1e-5, "rmsnorm");
        EXPECT_TRUE(out2.guardsIntact());

        for (bool withDelta : {false, true}) {
            DevArray res(x), out3(size_t(rows * D));
            std::vector<float> resRef = x;
            cuda::add_rmsnorm_forward(out3.p(), res.p(), withDelta ? dDelta.p() : nullptr, dW.p(),
                                      rows, D, 1e-5f, nullptr);
            sync();
            cpu::add_rmsnorm_forward(ref.data(), resRef.data(), withDelta ? delta.data() : nullptr,
                                     w.data(), rows, D, 1e-5f);
            expectRel(out3.get(), ref, 1e-5, withDelta ? "add_rmsnorm out" : "rmsnorm (no add)");
            expectRel(res.get(), resRef, 1e-6, "add_rmsnorm residual");
            EXPECT_TRUE(out3.guardsIntact() && res.guardsIntact());
        }
        cudaFree(dIds);
    }
}

// The prefill's add + RMSNorm with bf16 rows out, and the bf16-input GEMM that reads them
// (in_proj without its conversion pass): rows within one bf16 step (4e-3) of the CPU's
// fp32 norm, the residual within 1e-6 (the same fp32 add), the GEMM within the bf16
// linear's 6e-2 of the CPU linear on the CPU's rows; refusals for dims it does not take.
TEST(CudaKernels, PrefillAddRmsnormBf16) {
    cublasHandle_t h = nullptr;
    ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
    for (int round = 0; round < kRounds; ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        const int64_t rows = 5 + int64_t(rng() % 93), D = 4 * (1 + int64_t(rng() % 1024)),
                      outF = 1 + int64_t(rng() % 200);
        std::printf("seed %llu rows=%lld D=%lld out=%lld\n", (unsigned long long)seed,
                    (long long)rows, (long long)D, (long long)outF);
        const auto w = test::uniform(rng, size_t(D), 0.5f, 1.5f);
        const auto x = test::uniform(rng, size_t(rows * D), -3, 3);
        const auto delta = test::uniform(rng, size_t(rows * D), -1, 1);
        const auto W = test::uniform(rng, size_t(outF * D), -1, 1);
        DevArray dW(w), dDelta(delta), dMat(W), bMat(W.size() / 2 + 1);
        cuda::to_bf16(bMat.p(), dMat.p(), int64_t(W.size()), nullptr);
        const cuda::DeviceMatrix m{dMat.p(), bMat.p(), outF, D};
        for (bool withDelta : {false, true}) {
            DevArray res(x), outB(size_t(rows * D) / 2), proj(size_t(rows * outF));
            std::vector<float> resRef = x, ref(size_t(rows * D)), projRef(size_t(rows * outF));
            ASSERT_TRUE(cuda::prefill_add_rmsnorm_bf16_forward(outB.p(), res.p(),
                                                               withDelta ? dDelta.p() : nullptr,
                                                               dW.p(), rows, D, 1e-5f, nullptr));
            cuda::GemmContext g{h, cuda::Precision::Bf16, nullptr, 0};
            EXPECT_EQ(cuda::linear_bf16_input_forward(g, proj.p(), outB.p(), m, rows, nullptr), 0);
            sync();
            cpu::add_rmsnorm_forward(ref.data(), resRef.data(), withDelta ? delta.data() : nullptr,
                                     w.data(), rows, D, 1e-5f);
            cpu::linear_forward(projRef.data(), ref.data(), W.data(), rows, D, outF);
            expectRel(test::getBf16(outB.p(), size_t(rows * D)), ref, 4e-3, "norm out (bf16)");
            expectRel(res.get(), resRef, 1e-6, "residual");
            expectRel(proj.get(), projRef, 6e-2, "bf16-input linear");
            EXPECT_TRUE(outB.guardsIntact() && res.guardsIntact() && proj.guardsIntact());
        }
        DevArray res(x), outB(size_t(rows * D));
        EXPECT_FALSE(cuda::prefill_add_rmsnorm_bf16_forward(outB.p(), res.p(), nullptr, dW.p(),
                                                            rows, D - 2, 1e-5f, nullptr));
        EXPECT_FALSE(cuda::prefill_add_rmsnorm_bf16_forward(outB.p(), res.p(), nullptr, dW.p(), 1,
                                                            4100, 1e-5f, nullptr));
    }
    cublasDestroy(h);
}

struct Gemm {
    cublasHandle_t h = nullptr;
    void* scratch = nullptr;
    Gemm() {
        EXPECT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
        cudaMalloc(&scratch, 64 << 20);
    }
    ~Gemm() {
        cublasDestroy(h);
        cudaFree(scratch);
    }
    cuda::GemmContext ctx(cuda::Precision p) { return {h, p, scratch, (64 << 20) / 2}; }
};

TEST(CudaKernels, LinearLmHeadMlp) {
    Gemm gemm;
    const struct {
        cuda::Precision p;
        double tol;
        const char* name;
    } modes[] = {{cuda::Precision::Fp32, 1e-5, "fp32"},
                 {cuda::Precision::Tf32, 5e-3, "tf32"},
                 {cuda::Precision::Bf16, 6e-2, "bf16"}};
    for (int round = 0; round < kRounds; ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        const int64_t rows = 1 + int64_t(rng() % 67), inF = 1 + int64_t(rng() % 700),
                      outF = 1 + int64_t(rng() % 300), F = 128 * (1 + int64_t(rng() % 3));
        std::printf("seed %llu rows=%lld in=%lld out=%lld F=%lld\n", (unsigned long long)seed,
                    (long long)rows, (long long)inF, (long long)outF, (long long)F);
        const auto x = test::uniform(rng, size_t(rows * inF), -1, 1);
        const auto W = test::uniform(rng, size_t(outF * inF), -1, 1);
        const auto fc1 = test::uniform(rng, size_t(2 * F * inF), -0.1f, 0.1f);
        const auto fc2 = test::uniform(rng, size_t(inF * F), -0.1f, 0.1f);
        DevArray dx(x), dW(W), dFc1(fc1), dFc2(fc2);
        DevArray bW(W.size() / 2 + 1), bFc1(fc1.size() / 2 + 1), bFc2(fc2.size() / 2 + 1);
        cuda::to_bf16(bW.p(), dW.p(), int64_t(W.size()), nullptr);
        cuda::to_bf16(bFc1.p(), dFc1.p(), int64_t(fc1.size()), nullptr);
        cuda::to_bf16(bFc2.p(), dFc2.p(), int64_t(fc2.size()), nullptr);
        const cuda::DeviceMatrix mW{dW.p(), bW.p(), outF, inF};
        const cuda::DeviceMatrix m1{dFc1.p(), bFc1.p(), 2 * F, inF}, m2{dFc2.p(), bFc2.p(), inF, F};
        std::vector<float> ref(size_t(rows * outF)), refMlp(size_t(rows * inF)),
            scratch(size_t(rows * 2 * F));
        cpu::linear_forward(ref.data(), x.data(), W.data(), rows, inF, outF);
        cpu::gated_mlp_forward(refMlp.data(), x.data(), fc1.data(), fc2.data(), scratch.data(),
                               rows, inF, F);
        for (const auto& m : modes) {
            auto g = gemm.ctx(m.p);
            DevArray out(size_t(rows * outF)), mlp(size_t(rows * inF)), sc(size_t(rows * 3 * F));
            EXPECT_EQ(cuda::linear_forward(g, out.p(), dx.p(), inF, mW, rows, nullptr), 0);
            EXPECT_EQ(cuda::gated_mlp_forward(g, mlp.p(), dx.p(), m1, m2, sc.p(), rows, nullptr),
                      0);
            sync();
            expectRel(out.get(), ref, m.tol, std::string("linear ") + m.name);
            expectRel(mlp.get(), refMlp, m.tol, std::string("gated_mlp ") + m.name);
            EXPECT_TRUE(out.guardsIntact() && mlp.guardsIntact() && sc.guardsIntact());
        }
        // lm_head over the last row of each of `docs` documents (row stride T·inF).
        const int64_t docs = 1 + rows % 3, T = rows / docs;
        if (T == 0) continue;
        auto g = gemm.ctx(cuda::Precision::Fp32);
        DevArray last(size_t(docs * outF));
        EXPECT_EQ(
            cuda::lm_head_forward(g, last.p(), dx.p() + (T - 1) * inF, T * inF, mW, docs, nullptr),
            0);
        sync();
        std::vector<float> want;
        for (int64_t b = 0; b < docs; ++b)
            want.insert(want.end(), ref.begin() + (b * T + T - 1) * outF,
                        ref.begin() + (b * T + T) * outF);
        expectRel(last.get(), want, 1e-5, "lm_head last rows");
        EXPECT_TRUE(last.guardsIntact());
    }
}

// The bf16 GEMM through cuBLASLt (engine/cuda/gemm_lt.h, attached as a Context does): within
// the bf16 tolerance of the CPU linear, bit-identical when repeated (no run-time choice), and
// with operands only 2- and 4-byte aligned (the plan asks the heuristic for what it has).
TEST(CudaKernels, LinearBf16CublasLt) {
    Gemm gemm;
    cublasLtHandle_t lt = nullptr;
    ASSERT_EQ(cublasLtCreate(&lt), CUBLAS_STATUS_SUCCESS);
    const size_t wsFloats = size_t(8) << 20;  // 32 MiB, as Context's
    DevArray ws(wsFloats);
    cuda::gemm_lt_attach(gemm.h, lt, ws.p(), wsFloats * sizeof(float));
    for (int round = 0; round < kRounds; ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        const int64_t rows = 5 + int64_t(rng() % 300), inF = 1 + int64_t(rng() % 700),
                      outF = 1 + int64_t(rng() % 300);
        std::printf("seed %llu rows=%lld in=%lld out=%lld\n", (unsigned long long)seed,
                    (long long)rows, (long long)inF, (long long)outF);
        const auto x = test::uniform(rng, size_t(rows * inF), -1, 1);
        const auto W = test::uniform(rng, size_t(outF * inF), -1, 1);
        DevArray dx(x), dW(W), bW(W.size() / 2 + 1), bx(x.size() / 2 + 2);
        cuda::to_bf16(bW.p(), dW.p(), int64_t(W.size()), nullptr);
        // The activations one bf16 in: 2-byte aligned.
        void* bxOdd = reinterpret_cast<char*>(bx.p()) + 2;
        cuda::to_bf16(bxOdd, dx.p(), int64_t(x.size()), nullptr);
        const cuda::DeviceMatrix mW{dW.p(), bW.p(), outF, inF};
        std::vector<float> ref(size_t(rows * outF));
        cpu::linear_forward(ref.data(), x.data(), W.data(), rows, inF, outF);
        auto g = gemm.ctx(cuda::Precision::Bf16);
        DevArray a(ref.size()), b(ref.size()), c(ref.size() + 1);
        EXPECT_EQ(cuda::linear_forward(g, a.p(), dx.p(), inF, mW, rows, nullptr), 0);
        EXPECT_EQ(cuda::linear_forward(g, b.p(), dx.p(), inF, mW, rows, nullptr), 0);
        EXPECT_EQ(cuda::linear_bf16_input_forward(g, c.p() + 1, bxOdd, mW, rows, nullptr), 0);
        sync();
        expectRel(a.get(), ref, 6e-2, "linear bf16 (Lt)");
        EXPECT_EQ(a.get(), b.get()) << "a repeated Lt GEMM changed bits";
        const auto cv = c.get();
        expectRel(std::vector<float>(cv.begin() + 1, cv.end()), ref, 6e-2,
                  "bf16-input linear, unaligned operands (Lt)");
        EXPECT_TRUE(a.guardsIntact() && b.guardsIntact() && c.guardsIntact());
    }
    cuda::gemm_lt_detach(gemm.h);
    cublasLtDestroy(lt);
}

// A configuration named in full, as the sm_90 table names it (gemm_lt.h), builds the kernel
// of the heuristic's candidate it was read from: the same bits, every candidate. One the
// library cannot run is refused at plan time (the plan then takes the heuristic's first).
TEST(CudaKernels, LtAlgoFromConfig) {
    cublasLtHandle_t lt = nullptr;
    ASSERT_EQ(cublasLtCreate(&lt), CUBLAS_STATUS_SUCCESS);
    const size_t wsBytes = size_t(32) << 20;
    DevArray ws(wsBytes / sizeof(float));
    const uint64_t seed = test::freshSeed();
    std::mt19937_64 rng(seed);
    const int rows = 128 + int(rng() % 200), inF = 256 + 8 * int(rng() % 40), outF = 384;
    std::printf("seed %llu rows=%d in=%d out=%d\n", (unsigned long long)seed, rows, inF, outF);
    DevArray dx(test::uniform(rng, size_t(rows * inF), -1, 1)),
        dW(test::uniform(rng, size_t(outF * inF), -1, 1)), bx(size_t(rows * inF) / 2),
        bW(size_t(outF * inF) / 2), a(size_t(rows * outF)), b(size_t(rows * outF));
    cuda::to_bf16(bx.p(), dx.p(), int64_t(rows) * inF, nullptr);
    cuda::to_bf16(bW.p(), dW.p(), int64_t(outF) * inF, nullptr);
    cuda::LtGemm g;  // out [rows, outF] = x · Wᵀ, column-major (outF, rows) as linear.cu
    g.transA = true, g.m = outF, g.n = rows, g.k = inF;
    g.A = bW.p(), g.lda = inF, g.B = bx.p(), g.ldb = inF, g.D = a.p(), g.ldd = outF;
    std::vector<cublasLtMatmulHeuristicResult_t> cands;
    ASSERT_EQ(cuda::gemm_lt_candidates(lt, g, wsBytes, 8, cands), 0);
    ASSERT_FALSE(cands.empty());
    for (const auto& cand : cands) {
        const cuda::LtAlgoConfig c = cuda::gemm_lt_config(cand.algo);
        cublasLtMatmulAlgo_t algo{};
        ASSERT_EQ(cuda::gemm_lt_make_algo(lt, g, c, wsBytes, algo), 0) << "id " << c.id;
        EXPECT_TRUE(cuda::same_config(cuda::gemm_lt_config(algo), c));
        g.D = a.p();
        EXPECT_EQ(cuda::gemm_lt_run_algo(lt, g, cand.algo, ws.p(), wsBytes, nullptr), 0);
        g.D = b.p();
        EXPECT_EQ(cuda::gemm_lt_run_algo(lt, g, algo, ws.p(), wsBytes, nullptr), 0);
        sync();
        EXPECT_EQ(a.get(), b.get())
            << "config " << c.id << "/" << c.tile << "/" << c.stages << " rebuilt gave other bits";
    }
    cuda::LtAlgoConfig bad = cuda::gemm_lt_config(cands[0].algo);
    bad.tile = 1 << 20;
    cublasLtMatmulAlgo_t algo{};
    EXPECT_NE(cuda::gemm_lt_make_algo(lt, g, bad, wsBytes, algo), 0);
    bad = cuda::gemm_lt_config(cands[0].algo);
    bad.id = -5;
    EXPECT_NE(cuda::gemm_lt_make_algo(lt, g, bad, wsBytes, algo), 0);
    EXPECT_TRUE(a.guardsIntact() && b.guardsIntact());
    cublasLtDestroy(lt);
}

// Each distinct row count is a cached plan; the cache empties itself at kMaxLtPlans, and a
// shape planned again after that gives the same bits as its first plan did.
TEST(CudaKernels, LtPlanCacheStaysBounded) {
    Gemm gemm;
    cublasLtHandle_t lt = nullptr;
    ASSERT_EQ(cublasLtCreate(&lt), CUBLAS_STATUS_SUCCESS);
    const size_t wsBytes = size_t(32) << 20;
    DevArray ws(wsBytes / sizeof(float));
    cuda::gemm_lt_attach(gemm.h, lt, ws.p(), wsBytes);
    const uint64_t seed = test::freshSeed();
    std::mt19937_64 rng(seed);
    const int inF = 64, outF = 48, maxRows = int(cuda::kMaxLtPlans) + 40;
    std::printf("seed %llu\n", (unsigned long long)seed);
    const auto x = test::uniform(rng, size_t(maxRows) * inF, -1, 1);
    const auto W = test::uniform(rng, size_t(outF) * inF, -1, 1);
    DevArray dx(x), dW(W), bx(x.size() / 2), bW(W.size() / 2), out(size_t(maxRows) * outF);
    cuda::to_bf16(bx.p(), dx.p(), int64_t(x.size()), nullptr);
    cuda::to_bf16(bW.p(), dW.p(), int64_t(W.size()), nullptr);
    auto run = [&](int rows) {
        cuda::LtGemm g;  // out [rows, outF] = x · Wᵀ, column-major (outF, rows) as linear.cu
        g.transA = true, g.m = outF, g.n = rows, g.k = inF;
        g.A = bW.p(), g.lda = inF, g.B = bx.p(), g.ldb = inF, g.D = out.p(), g.ldd = outF;
        EXPECT_EQ(cuda::gemm_lt_run(gemm.h, g, nullptr), 0) << rows << " rows";
        sync();
        auto v = out.get();
        v.resize(size_t(rows) * outF);
        return v;
    };
    const size_t before = cuda::gemm_lt_plan_count();
    const auto first = run(7);
    for (int rows = 1; rows <= maxRows; ++rows) {
        run(rows);
        ASSERT_LE(cuda::gemm_lt_plan_count(), cuda::kMaxLtPlans) << "after " << rows << " shapes";
    }
    EXPECT_LT(cuda::gemm_lt_plan_count(), size_t(maxRows) + before);
    const auto again = run(7);  // planned again after the cache emptied
    EXPECT_EQ(first, again) << "a shape planned again gave other bits";
    std::vector<float> ref(size_t(7) * outF);
    cpu::linear_forward(ref.data(), x.data(), W.data(), 7, inF, outF);
    expectRel(again, ref, 6e-2, "Lt GEMM after the plan cache emptied");
    EXPECT_TRUE(out.guardsIntact());
    cuda::gemm_lt_detach(gemm.h);
    cublasLtDestroy(lt);
}

// The decode GEMV (bf16 weights, fp32 activations, 1-4 rows with a row stride as the LM
// head's last rows): only the weights are rounded, so the bf16 tolerance holds with room.
// The decode step's launch choices (PDL, the bulk-copy kernel; sm_90 only)
// give the same floats as a plain launch: a warp owns a row and sums it in one order. Both
// decode GEMVs: out_proj's (adding into zeros) and in_proj's (RMSNorm prologue).
void expectDecodeLaunchesAgree(const std::vector<float>& x, int64_t ld, const cuda::DeviceMatrix& W,
                               int64_t rows, std::mt19937_64& rng) {
    if (!cuda::decode_pdl_enabled()) return;
    const auto nw = test::uniform(rng, size_t(W.cols), 0.5f, 1.5f);
    DevArray dx(x), dnw(nw);
    const std::vector<float> zeros(size_t(rows * W.rows), 0.0f);
    const bool normFits = size_t(rows * W.cols) * sizeof(float) <= 48 * 1024;
    std::vector<float> addRef, normRef;
    for (int v = 0; v < 3; ++v) {
        cuda::DecodeLaunch how;  // v 0: plain, the reference
        how.pdl = v > 0;
        how.gemvBulk = v == 2;
        DevArray add(zeros), norm(zeros.size());
        ASSERT_TRUE(cuda::decode_gemv_add_forward(add.p(), dx.p(), ld, W, rows, how, nullptr));
        if (normFits) {
            ASSERT_TRUE(cuda::decode_norm_gemv_forward(norm.p(), dx.p(), ld, dnw.p(), 1e-5f, W,
                                                       rows, how, nullptr));
        }
        sync();
        EXPECT_TRUE(add.guardsIntact() && norm.guardsIntact());
        if (v == 0) {
            addRef = add.get();
            normRef = norm.get();
            continue;
        }
        EXPECT_EQ(add.get(), addRef) << "launch variant " << v << " (out_proj's GEMV)";
        if (normFits) {
            EXPECT_EQ(norm.get(), normRef) << "launch variant " << v << " (in_proj's)";
        }
    }
}

TEST(CudaKernels, GemvBf16) {
    for (int round = 0; round < 2 * kRounds; ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        const int64_t rows = 1 + int64_t(rng() % cuda::kGemvMaxRows),
                      inF = 8 * (1 + int64_t(rng() % 300)), outF = 1 + int64_t(rng() % 3000),
                      ld = inF + 4 * int64_t(rng() % 3);
        std::printf("seed %llu rows=%lld in=%lld out=%lld ld=%lld\n", (unsigned long long)seed,
                    (long long)rows, (long long)inF, (long long)outF, (long long)ld);
        const auto x = test::uniform(rng, size_t(rows * ld), -1, 1);
        const auto W = test::uniform(rng, size_t(outF * inF), -1, 1);
        std::vector<float> xc(size_t(rows * inF)), ref(size_t(rows * outF));
        for (int64_t r = 0; r < rows; ++r)
            std::copy_n(x.begin() + r * ld, inF, xc.begin() + r * inF);
        cpu::linear_forward(ref.data(), xc.data(), W.data(), rows, inF, outF);
        DevArray dx(x), dW(W), bW(W.size() / 2 + 1), out(size_t(rows * outF));
        cuda::to_bf16(bW.p(), dW.p(), int64_t(W.size()), nullptr);
        const cuda::DeviceMatrix mW{dW.p(), bW.p(), outF, inF};
        ASSERT_TRUE(cuda::gemv_bf16_forward(out.p(), dx.p(), ld, mW, rows, nullptr));
        sync();
        expectRel(out.get(), ref, 2e-2, "gemv bf16");
        EXPECT_TRUE(out.guardsIntact());
        // Sizes it does not take are refused without a launch.
        EXPECT_FALSE(
            cuda::gemv_bf16_forward(out.p(), dx.p(), ld, mW, cuda::kGemvMaxRows + 1, nullptr));
        const cuda::DeviceMatrix odd{dW.p(), bW.p(), 1, inF - 1};
        EXPECT_FALSE(cuda::gemv_bf16_forward(out.p(), dx.p(), ld, odd, 1, nullptr));
        expectDecodeLaunchesAgree(x, ld, mW, rows, rng);
    }
}

TEST(CudaKernels, Mamba3Gate) {
    for (int round = 0; round < 2 * kRounds; ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        ops::Mamba3Dims d;
        d.H = 1 + int(rng() % 6);
        d.P = int(8 << (rng() % 4));
        d.R = round % 2 ? 1 + int(rng() % 4) : 1;
        d.mimo = d.R > 1;
        const bool norm = rng() % 2;
        const int64_t T = 1 + int64_t(rng() % 90), zStride = d.dInner() + 7;
        std::printf("seed %llu H=%d P=%d R=%d norm=%d T=%lld\n", (unsigned long long)seed, d.H, d.P,
                    d.R, int(norm), (long long)T);
        const size_t HRP = size_t(d.H) * d.R * d.P;
        const auto y = test::uniform(rng, size_t(T) * d.R * d.H * d.P, -2, 2);
        const auto z = test::uniform(rng, size_t(T * zStride), -3, 3);
        const auto mz = test::uniform(rng, HRP, 0.5f, 1.5f),
                   mo = test::uniform(rng, HRP, 0.5f, 1.5f);
        const auto nw = test::uniform(rng, size_t(d.dInner()), 0.5f, 1.5f);
        DevArray dy(y), dz(z), dmz(mz), dmo(mo), dnw(nw), out(size_t(T * d.dInner()));
        const ops::Mamba3GateParams pg{d.mimo ? dmz.p() : nullptr, d.mimo ? dmo.p() : nullptr,
                                       norm ? dnw.p() : nullptr};
        const ops::Mamba3GateParams pc{d.mimo ? mz.data() : nullptr, d.mimo ? mo.data() : nullptr,
                                       norm ? nw.data() : nullptr};
        cuda::mamba3_gate_forward(d, pg, dy.p(), dz.p(), zStride, T, out.p(), nullptr);
        sync();
        std::vector<float> ref(size_t(T * d.dInner()));
        cpu::mamba3_gate_forward(d, pc, y.data(), z.data(), zStride, T, ref.data());
        expectRel(out.get(), ref, 1e-5, "mamba3_gate");
        EXPECT_TRUE(out.guardsIntact());
    }
}

}  // namespace
}  // namespace lectern
