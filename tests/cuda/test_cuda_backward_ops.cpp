// The CUDA backward ops (training/cuda/ops_backward_cuda.h) against their CPU references
// (training/backward, training/loss.cpp, training/optim/adamw.cpp) on fresh random inputs of
// ragged shapes: odd sizes, rows not a multiple of any block size, batch > 1, MIMO R > 1.
// Every accumulated (+=) gradient starts pre-filled with random values (a kernel that wrote
// instead of adding loses them: an error of order 1), every WRITTEN output starts poisoned
// with NaN, and guard regions catch out-of-bounds writes. NaN never passes (tensor_check.h).
// Tolerances, max|gpu − cpu| / max|cpu| over the tensor, and why:
//   elementwise maths 2e-5 (fp32 with expf/tanhf/sincosf against libm: ~1e-7 expected);
//   row reductions and per-parameter sums over hundreds of rows 1e-4 (fp32 block sums and
//   atomics in any order against the CPU's double sums: ~1e-6 expected); fp32 GEMM 2e-5
//   (sum order only); tf32 GEMM 5e-3 (10-bit operands); bf16 GEMM 1e-4 against the CPU on
//   the same bf16-rounded operands (their products are exact in fp32: sum order only);
//   bf16 dlogits 5e-3 (one bf16 rounding, 2^-8); the loss 1e-6 (double log-sum-exp of
//   fp32 exponentials); AdamW 1e-6 (the CPU's operations without FMA contraction: exact
//   expected); the sum of squares 1e-11 (double, order only: the CPU's sequential sum of 3M
//   positive terms is off by ~1e-13).
#include <cublas_v2.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "backward_test_util.h"
#include "cuda/cuda_ops.h"
#include "cuda/gemm_lt.h"
#include "cuda_test_util.h"
#include "tensor_check.h"
#include "training/backward/backward_ops.h"
#include "training/cuda/ops_backward_cuda.h"
#include "training/loss.h"
#include "training/optim/adamw.h"

namespace lectern {
namespace {

using test::DevArray;
namespace tc = train::cuda;

const int kRounds = test::rounds(3);

using test::dimsStr;
using test::expectRel;
using test::pick;
using test::randomDims;

void sync() {
    test::syncDevice();
}

// A device buffer of trivially copyable values (ids, the loss, flags); no guards.
template <typename T>
class DevBuf {
public:
    explicit DevBuf(const std::vector<T>& v) : n_(v.size()) {
        EXPECT_EQ(cudaMalloc(&p_, std::max<size_t>(1, n_) * sizeof(T)), cudaSuccess);
        cudaMemcpy(p_, v.data(), n_ * sizeof(T), cudaMemcpyHostToDevice);
    }
    DevBuf(const DevBuf&) = delete;
    DevBuf& operator=(const DevBuf&) = delete;
    ~DevBuf() { cudaFree(p_); }
    T* p() const { return p_; }
    std::vector<T> get() const {
        std::vector<T> v(n_);
        cudaMemcpy(v.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost);
        return v;
    }

private:
    T* p_ = nullptr;
    size_t n_;
};

// bf16 on the host (round to nearest even; the test data hold no NaN), and back.
uint16_t toBf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return uint16_t(u >> 16);
}
float fromBf16(uint16_t h) {
    const uint32_t u = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
std::vector<uint16_t> bf16s(const std::vector<float>& v) {
    std::vector<uint16_t> b(v.size());
    for (size_t i = 0; i < v.size(); ++i) b[i] = toBf16(v[i]);
    return b;
}
std::vector<float> rounded(const std::vector<float>& v) {
    std::vector<float> r(v.size());
    for (size_t i = 0; i < v.size(); ++i) r[i] = fromBf16(toBf16(v[i]));
    return r;
}

TEST(CudaBackward, Embedding) {
    for (int round = 0; round < kRounds; ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        const int64_t rows = pick(rng, 1, 400), D = pick(rng, 1, 300), V = 37;
        std::printf("seed %llu rows=%lld D=%lld\n", (unsigned long long)seed, (long long)rows,
                    (long long)D);
        std::vector<int32_t> ids(static_cast<size_t>(rows));
        for (auto& i : ids) i = int32_t(rng() % V);
        const auto dout = test::uniform(rng, size_t(rows * D), -1, 1);
        auto ref = test::uniform(rng, size_t(V * D), -0.5f, 0.5f);  // pre-filled: +=
        DevBuf<int32_t> dIds(ids);
        DevArray dDout(dout), dTable(ref);
        ASSERT_EQ(tc::embedding_backward(dTable.p(), dDout.p(), dIds.p(), rows, D, nullptr),
                  cudaSuccess);
        sync();
        train::embedding_backward(ref.data(), dout.data(), ids.data(), rows, D);
        expectRel(dTable.get(), ref, 2e-5, "embedding dtable");
        EXPECT_TRUE(dTable.guardsIntact());
    }
}

TEST(CudaBackward, Rmsnorm) {
    for (int round = 0; round < kRounds; ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        // Past 512 rows a block walks several rows (kMaxBlocks in rmsnorm_backward.cu).
        const int64_t rows = round == 0 ? pick(rng, 513, 1300) : pick(rng, 1, 300);
        const int64_t dim = pick(rng, 1, 700);
        std::printf("seed %llu rows=%lld dim=%lld\n", (unsigned long long)seed, (long long)rows,
                    (long long)dim);
        const auto x = test::uniform(rng, size_t(rows * dim), -3, 3);
        const auto w = test::uniform(rng, size_t(dim), 0.5f, 1.5f);
        const auto dout = test::uniform(rng, size_t(rows * dim), -1, 1);
        auto din = test::uniform(rng, size_t(rows * dim), -0.5f, 0.5f);
        auto dw = test::uniform(rng, size_t(dim), -0.5f, 0.5f);
        DevArray dX(x), dW(w), dDout(dout), dDin(din), dDw(dw);
        ASSERT_EQ(tc::rmsnorm_backward(dDin.p(), dDw.p(), dDout.p(), dX.p(), dW.p(), rows, dim,
                                       1e-5f, nullptr),
                  cudaSuccess);
        sync();
        train::rmsnorm_backward(din.data(), dw.data(), dout.data(), x.data(), w.data(), rows, dim,
                                1e-5f);
        expectRel(dDin.get(), din, 1e-4, "rmsnorm din");
        expectRel(dDw.get(), dw, 1e-4, "rmsnorm dweight");
        EXPECT_TRUE(dDin.guardsIntact() && dDw.guardsIntact());
    }
}

// Parameter: a cuBLASLt handle attached to h_ as a Context attaches one (the bf16 GEMMs then
// run through cublasLtMatmul, engine/cuda/gemm_lt.h), or plain cuBLAS.
class CudaBackwardGemm : public ::testing::TestWithParam<bool> {
protected:
    void SetUp() override {
        ASSERT_EQ(cublasCreate(&h_), CUBLAS_STATUS_SUCCESS);
        if (!GetParam()) return;
        ASSERT_EQ(cublasLtCreate(&lt_), CUBLAS_STATUS_SUCCESS);
        ASSERT_EQ(cudaMalloc(&ws_, kWs), cudaSuccess);
        cuda::gemm_lt_attach(h_, lt_, ws_, kWs);
    }
    void TearDown() override {
        if (lt_) {
            cuda::gemm_lt_detach(h_);
            cublasLtDestroy(lt_);
            cudaFree(ws_);
        }
        cublasDestroy(h_);
    }
    static constexpr size_t kWs = size_t(32) << 20;
    cublasHandle_t h_ = nullptr;
    cublasLtHandle_t lt_ = nullptr;
    void* ws_ = nullptr;
};
INSTANTIATE_TEST_SUITE_P(Cublas, CudaBackwardGemm, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "Lt" : "GemmEx"; });

TEST_P(CudaBackwardGemm, Linear) {
    for (int round = 0; round < kRounds; ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        const int64_t rows = pick(rng, 1, 300), inF = pick(rng, 1, 300), outF = pick(rng, 1, 300);
        // Row strides wider than the rows (views into in_proj) on odd rounds.
        const int64_t ldIn = inF + (round % 2 ? pick(rng, 1, 40) : 0);
        const int64_t ldDin = inF + (round % 2 ? pick(rng, 1, 40) : 0);
        std::printf("seed %llu rows=%lld inF=%lld outF=%lld ldIn=%lld ldDin=%lld\n",
                    (unsigned long long)seed, (long long)rows, (long long)inF, (long long)outF,
                    (long long)ldIn, (long long)ldDin);
        const auto inWide = test::uniform(rng, size_t(rows * ldIn), -1, 1);
        const auto W = test::uniform(rng, size_t(outF * inF), -1, 1);
        const auto dout = test::uniform(rng, size_t(rows * outF), -1, 1);
        const auto dinWide0 = test::uniform(rng, size_t(rows * ldDin), -0.5f, 0.5f);
        const auto dW0 = test::uniform(rng, size_t(outF * inF), -0.5f, 0.5f);
        std::vector<float> in(size_t(rows * inF)), din(size_t(rows * inF));
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < inF; ++c) {
                in[size_t(r * inF + c)] = inWide[size_t(r * ldIn + c)];
                din[size_t(r * inF + c)] = dinWide0[size_t(r * ldDin + c)];
            }
        std::vector<float> dW = dW0;
        train::linear_backward(din.data(), dW.data(), dout.data(), in.data(), W.data(), rows, inF,
                               outF);
        std::vector<float> dinWide = dinWide0;  // the columns past inF stay as they were
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < inF; ++c)
                dinWide[size_t(r * ldDin + c)] = din[size_t(r * inF + c)];
        for (bool tf32 : {false, true}) {
            DevArray dIn(inWide), dWt(W), dDout(dout), dDin(dinWide0), dDW(dW0), dDW2(dW0);
            ASSERT_EQ(tc::linear_backward(h_, dDin.p(), ldDin, dDW.p(), dDout.p(), dIn.p(), ldIn,
                                          dWt.p(), rows, inF, outF, nullptr, tf32),
                      0);
            // din null: only dW.
            ASSERT_EQ(tc::linear_backward(h_, nullptr, 0, dDW2.p(), dDout.p(), dIn.p(), ldIn,
                                          dWt.p(), rows, inF, outF, nullptr, tf32),
                      0);
            sync();
            const double tol = tf32 ? 5e-3 : 2e-5;
            expectRel(dDin.get(), dinWide, tol, tf32 ? "linear din tf32" : "linear din");
            expectRel(dDW.get(), dW, tol, tf32 ? "linear dW tf32" : "linear dW");
            expectRel(dDW2.get(), dW, tol, "linear dW (din null)");
            EXPECT_TRUE(dDin.guardsIntact() && dDW.guardsIntact() && dDW2.guardsIntact());
        }
        // bf16 operands: against the CPU on the same rounded values.
        const auto inB = rounded(in), WB = rounded(W), doutB = rounded(dout);
        std::vector<float> dinB(size_t(rows * inF)), dWB = dW0;
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < inF; ++c)
                dinB[size_t(r * inF + c)] = dinWide0[size_t(r * ldDin + c)];
        train::linear_backward(dinB.data(), dWB.data(), doutB.data(), inB.data(), WB.data(), rows,
                               inF, outF);
        std::vector<float> dinWideB = dinWide0;
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < inF; ++c)
                dinWideB[size_t(r * ldDin + c)] = dinB[size_t(r * inF + c)];
        DevBuf<uint16_t> bIn(bf16s(inWide)), bW(bf16s(W)), bDout(bf16s(dout));
        DevArray dDin(dinWide0), dDW(dW0);
        ASSERT_EQ(tc::linear_backward_bf16(h_, dDin.p(), ldDin, dDW.p(), bDout.p(), bIn.p(), ldIn,
                                           bW.p(), rows, inF, outF, nullptr),
                  0);
        sync();
        expectRel(dDin.get(), dinWideB, 1e-4, "linear din bf16");
        expectRel(dDW.get(), dWB, 1e-4, "linear dW bf16");
        EXPECT_TRUE(dDin.guardsIntact() && dDW.guardsIntact());
        // dinWritten: din stored over NaN (beta 0), the columns past inF untouched; both forms.
        std::vector<float> dinOnly(size_t(rows * inF), 0.0f), dinOnlyB = dinOnly, unused = dW0;
        train::linear_backward(dinOnly.data(), unused.data(), dout.data(), in.data(), W.data(),
                               rows, inF, outF);
        train::linear_backward(dinOnlyB.data(), unused.data(), doutB.data(), inB.data(), WB.data(),
                               rows, inF, outF);
        std::vector<float> poisoned = dinWide0, want = dinWide0, wantB = dinWide0;
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < inF; ++c) {
                poisoned[size_t(r * ldDin + c)] = std::numeric_limits<float>::quiet_NaN();
                want[size_t(r * ldDin + c)] = dinOnly[size_t(r * inF + c)];
                wantB[size_t(r * ldDin + c)] = dinOnlyB[size_t(r * inF + c)];
            }
        DevArray wIn(inWide), wW(W), wDout(dout), wDin(poisoned), wDW(dW0), wDinB(poisoned),
            wDWB(dW0);
        ASSERT_EQ(tc::linear_backward(h_, wDin.p(), ldDin, wDW.p(), wDout.p(), wIn.p(), ldIn,
                                      wW.p(), rows, inF, outF, nullptr, false, true),
                  0);
        ASSERT_EQ(tc::linear_backward_bf16(h_, wDinB.p(), ldDin, wDWB.p(), bDout.p(), bIn.p(), ldIn,
                                           bW.p(), rows, inF, outF, nullptr, true),
                  0);
        sync();
        expectRel(wDin.get(), want, 2e-5, "linear din written");
        expectRel(wDW.get(), dW, 2e-5, "linear dW (din written)");
        expectRel(wDinB.get(), wantB, 1e-4, "linear din written bf16");
        expectRel(wDWB.get(), dWB, 1e-4, "linear dW bf16 (din written)");
        EXPECT_TRUE(wDin.guardsIntact() && wDinB.guardsIntact());
    }
}

TEST_P(CudaBackwardGemm, GatedMlp) {
    for (int round = 0; round < kRounds; ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        const int64_t rows = pick(rng, 1, 200), D = pick(rng, 1, 200), F = pick(rng, 1, 300);
        std::printf("seed %llu rows=%lld D=%lld F=%lld\n", (unsigned long long)seed,
                    (long long)rows, (long long)D, (long long)F);
        const auto in = test::uniform(rng, size_t(rows * D), -1, 1);
        const auto fc1 = test::uniform(rng, size_t(2 * F * D), -0.3f, 0.3f);
        const auto fc2 = test::uniform(rng, size_t(D * F), -0.3f, 0.3f);
        const auto dout = test::uniform(rng, size_t(rows * D), -1, 1);
        auto din = test::uniform(rng, size_t(rows * D), -0.5f, 0.5f);
        auto dfc1 = test::uniform(rng, size_t(2 * F * D), -0.5f, 0.5f);
        auto dfc2 = test::uniform(rng, size_t(D * F), -0.5f, 0.5f);
        DevArray dIn(in), dFc1(fc1), dFc2(fc2), dDout(dout), dDin(din), dDfc1(dfc1), dDfc2(dfc2),
            scratch(size_t(rows * 3 * F));
        ASSERT_EQ(tc::gated_mlp_backward(h_, dDin.p(), dDfc1.p(), dDfc2.p(), dDout.p(), dIn.p(),
                                         dFc1.p(), dFc2.p(), rows, D, F, scratch.p(), nullptr),
                  0);
        sync();
        train::gated_mlp_backward(din.data(), dfc1.data(), dfc2.data(), dout.data(), in.data(),
                                  fc1.data(), fc2.data(), rows, D, F);
        expectRel(dDin.get(), din, 2e-5, "gated_mlp din");
        expectRel(dDfc1.get(), dfc1, 2e-5, "gated_mlp dfc1");
        expectRel(dDfc2.get(), dfc2, 2e-5, "gated_mlp dfc2");
        EXPECT_TRUE(dDin.guardsIntact() && dDfc1.guardsIntact() && dDfc2.guardsIntact() &&
                    scratch.guardsIntact());
    }
}

TEST(CudaBackward, Mamba3Preprocess) {
    for (int round = 0; round < 2 * kRounds; ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        ops::Mamba3Dims d = randomDims(rng, round % 2 == 1);
        if (round == 2) {
            // More bias sums (R·H·N) than the kernel's shared memory holds for 4 warps: the
            // separate bias launch instead of the sums inside the norm launch.
            d.H = int(pick(rng, 32, 40)), d.G = 1, d.N = 2 * int(pick(rng, 52, 64));
        }
        // The scalars read ddtheta in float4s where A is a multiple of 4, else one by one:
        // round 0 takes the first form, round 4 the second.
        if (round == 0) d.N = std::max(d.N, 8), d.A = 4 * int(pick(rng, 1, d.N / 8));
        if (round == 4 && d.A % 4 == 0) d.A -= 1;
        // The norm backward's lanes own 4 n each up to N = 128, 8 above: round 5 takes the 8.
        if (round == 5) d.N = 2 * int(pick(rng, 65, 128));
        const int64_t rows = pick(rng, 1, 300);
        std::printf("seed %llu rows=%lld %s\n", (unsigned long long)seed, (long long)rows,
                    dimsStr(d).c_str());
        const int64_t S = d.dInProj(), qk = rows * d.R * d.H * d.N, th = rows * d.H;
        auto proj = test::uniform(rng, size_t(rows * S), -2, 2);
        for (int64_t t = 0; t < rows; ++t)
            for (int h = 0; h < d.H; ++h) {
                // dd_dt past softplus's threshold of 20 now and then; dd_A over both sides of
                // the heavy tail and the clamp (heavy(v) < aFloor for v < 1 − 1/aFloor).
                proj[size_t(t * S + d.offDt() + h)] = float(pick(rng, -5000, 22000)) * 1e-3f;
                proj[size_t(t * S + d.offA() + h)] = float(pick(rng, -6000, 3000)) * 1e-3f;
            }
        const auto dtBias = test::uniform(rng, size_t(d.H), -1, 1);
        const auto bNorm = test::uniform(rng, size_t(d.N), 0.5f, 1.5f);
        const auto cNorm = test::uniform(rng, size_t(d.N), 0.5f, 1.5f);
        const auto bBias = test::uniform(rng, size_t(d.H * d.R * d.N), -0.5f, 0.5f);
        const auto cBias = test::uniform(rng, size_t(d.H * d.R * d.N), -0.5f, 0.5f);
        const auto dq = test::uniform(rng, size_t(qk), -1, 1);
        const auto dk = test::uniform(rng, size_t(qk), -1, 1);
        const auto ddt = test::uniform(rng, size_t(th), -1, 1);
        const auto dadt = test::uniform(rng, size_t(th), -1, 1);
        const auto dtrap = test::uniform(rng, size_t(th), -1, 1);
        const auto ddtheta = test::uniform(rng, size_t(th * d.A), -1, 1);
        auto dproj = test::uniform(rng, size_t(rows * S), -0.5f, 0.5f);
        auto gDt = test::uniform(rng, size_t(d.H), -0.5f, 0.5f);
        auto gBn = test::uniform(rng, size_t(d.N), -0.5f, 0.5f);
        auto gCn = test::uniform(rng, size_t(d.N), -0.5f, 0.5f);
        auto gBb = test::uniform(rng, size_t(d.H * d.R * d.N), -0.5f, 0.5f);
        auto gCb = test::uniform(rng, size_t(d.H * d.R * d.N), -0.5f, 0.5f);
        DevArray dProj(proj), dDtBias(dtBias), dBNorm(bNorm), dCNorm(cNorm), dBBias(bBias),
            dCBias(cBias), dDq(dq), dDk(dk), dDdt(ddt), dDadt(dadt), dDtrap(dtrap),
            dDdtheta(ddtheta), dDproj(dproj), dGDt(gDt), dGBn(gBn), dGCn(gCn), dGBb(gBb), dGCb(gCb);
        const ops::Mamba3PreprocessParams pd{dDtBias.p(), dBNorm.p(), dCNorm.p(), dBBias.p(),
                                             dCBias.p()};
        const train::Mamba3PreprocessGrads gd{dGDt.p(), dGBn.p(), dGCn.p(), dGBb.p(), dGCb.p()};
        ASSERT_EQ(tc::mamba3_preprocess_backward(d, pd, gd, dProj.p(), rows, dDq.p(), dDk.p(),
                                                 dDdt.p(), dDadt.p(), dDtrap.p(), dDdtheta.p(),
                                                 dDproj.p(), nullptr),
                  cudaSuccess);
        sync();
        const ops::Mamba3PreprocessParams ph{dtBias.data(), bNorm.data(), cNorm.data(),
                                             bBias.data(), cBias.data()};
        const train::Mamba3PreprocessGrads gh{gDt.data(), gBn.data(), gCn.data(), gBb.data(),
                                              gCb.data()};
        train::mamba3_preprocess_backward(d, ph, gh, proj.data(), rows, dq.data(), dk.data(),
                                          ddt.data(), dadt.data(), dtrap.data(), ddtheta.data(),
                                          dproj.data());
        expectRel(dDproj.get(), dproj, 2e-5, "preprocess dproj");
        expectRel(dGDt.get(), gDt, 1e-4, "preprocess dtBias");
        expectRel(dGBn.get(), gBn, 1e-4, "preprocess bNorm");
        expectRel(dGCn.get(), gCn, 1e-4, "preprocess cNorm");
        expectRel(dGBb.get(), gBb, 1e-4, "preprocess bBias");
        expectRel(dGCb.get(), gCb, 1e-4, "preprocess cBias");
        EXPECT_TRUE(dDproj.guardsIntact() && dGDt.guardsIntact() && dGBn.guardsIntact() &&
                    dGCn.guardsIntact() && dGBb.guardsIntact() && dGCb.guardsIntact());
    }
}

TEST(CudaBackward, RotaryAngles) {
    for (int round = 0; round < 2 * kRounds; ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        const ops::Mamba3Dims d = randomDims(rng, round % 2 == 1);
        const int64_t batch = pick(rng, 1, 3),
                      T = round == 0 ? pick(rng, 257, 700) : pick(rng, 1, 300);
        const bool withAngle0 = rng() % 2;
        std::printf("seed %llu batch=%lld T=%lld angle0=%d %s\n", (unsigned long long)seed,
                    (long long)batch, (long long)T, int(withAngle0), dimsStr(d).c_str());
        const int64_t rows = batch * T, qkRow = int64_t(d.R) * d.H * d.N, HA = int64_t(d.H) * d.A;
        const auto q = test::uniform(rng, size_t(rows * qkRow), -2, 2);
        const auto k = test::uniform(rng, size_t(rows * qkRow), -2, 2);
        const auto dtheta = test::uniform(rng, size_t(rows * HA), -1, 1);
        const auto angle0 = test::uniform(rng, size_t(batch * HA), 0, 6.28f);
        auto dq = test::uniform(rng, size_t(rows * qkRow), -1, 1);
        auto dk = test::uniform(rng, size_t(rows * qkRow), -1, 1);
        auto ddtheta = test::uniform(rng, size_t(rows * HA), -0.5f, 0.5f);
        const auto ddtheta0 = ddtheta;
        DevArray dQ(q), dK(k), dDtheta(dtheta), dAngle0(angle0), dDq(dq), dDk(dk),
            dDdtheta(ddtheta), scratch(size_t(rows * HA));
        // The same backward with ddtheta written (the model's form): over a poisoned buffer.
        DevArray dDq2(dq), dDk2(dk), dWritten(size_t(rows * HA)), theta2(size_t(rows * HA));
        ASSERT_EQ(tc::rotary_theta_replay(d, withAngle0 ? dAngle0.p() : nullptr, dDtheta.p(), batch,
                                          T, theta2.p(), nullptr),
                  cudaSuccess);
        ASSERT_EQ(tc::rotary_theta_backward(d, dQ.p(), dK.p(), theta2.p(), batch, T, dDq2.p(),
                                            dDk2.p(), dWritten.p(), theta2.p(), nullptr, true),
                  cudaSuccess);
        ASSERT_EQ(tc::rotary_angles_backward(d, dQ.p(), dK.p(), withAngle0 ? dAngle0.p() : nullptr,
                                             dDtheta.p(), batch, T, dDq.p(), dDk.p(), dDdtheta.p(),
                                             scratch.p(), nullptr),
                  cudaSuccess);
        sync();
        for (int64_t b = 0; b < batch; ++b) {
            const int64_t r0 = b * T;
            train::rotary_angles_backward(d, q.data() + r0 * qkRow, k.data() + r0 * qkRow,
                                          withAngle0 ? angle0.data() + b * HA : nullptr,
                                          dtheta.data() + r0 * HA, T, dq.data() + r0 * qkRow,
                                          dk.data() + r0 * qkRow, ddtheta.data() + r0 * HA);
        }
        expectRel(dDq.get(), dq, 2e-5, "rotary dq");
        expectRel(dDk.get(), dk, 2e-5, "rotary dk");
        expectRel(dDdtheta.get(), ddtheta, 1e-4, "rotary ddtheta");
        std::vector<float> added(ddtheta.size());
        for (size_t i = 0; i < added.size(); ++i) added[i] = ddtheta[i] - ddtheta0[i];
        if (HA > 0) expectRel(dWritten.get(), added, 1e-4, "rotary ddtheta written");
        EXPECT_TRUE(dDq2.get() == dDq.get() && dDk2.get() == dDk.get() && dWritten.guardsIntact());
        EXPECT_TRUE(dDq.guardsIntact() && dDk.guardsIntact() && dDdtheta.guardsIntact() &&
                    scratch.guardsIntact());
        // The replayed angles are written in full (scratch started poisoned).
        DevArray theta(size_t(rows * HA));
        ASSERT_EQ(tc::rotary_theta_replay(d, withAngle0 ? dAngle0.p() : nullptr, dDtheta.p(), batch,
                                          T, theta.p(), nullptr),
                  cudaSuccess);
        sync();
        const auto tv = theta.get();
        for (float x : tv) ASSERT_TRUE(x >= 0.0f && x < 6.2832f) << x;
    }
}

TEST(CudaBackward, Mamba3Gate) {
    for (int round = 0; round < 2 * kRounds; ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        ops::Mamba3Dims d = randomDims(rng, round % 2 == 1);
        bool norm = (round / 2) % 2 == 0 || rng() % 2;
        const int64_t rows = round == 0 ? pick(rng, 300, 700) : pick(rng, 1, 300);
        int64_t zStride = d.dInner() + pick(rng, 0, 17);
        if (round == 0) {  // SISO, no norm, 16-byte rows: the kernels' flat element-wise forms
            norm = false, d.P = 4 * int(pick(rng, 1, 40));
            zStride = d.dInner() + 4 * pick(rng, 0, 4);
        }
        std::printf("seed %llu rows=%lld zStride=%lld norm=%d %s\n", (unsigned long long)seed,
                    (long long)rows, (long long)zStride, int(norm), dimsStr(d).c_str());
        const int64_t HRP = int64_t(d.H) * d.R * d.P, yN = rows * d.R * d.dInner();
        const auto y = test::uniform(rng, size_t(yN), -2, 2);
        const auto z = test::uniform(rng, size_t(rows * zStride), -3, 3);
        const auto dout = test::uniform(rng, size_t(rows * d.dInner()), -1, 1);
        const auto mimoZ = test::uniform(rng, size_t(HRP), 0.5f, 1.5f);
        const auto mimoO = test::uniform(rng, size_t(HRP), 0.5f, 1.5f);
        const auto normW = test::uniform(rng, size_t(d.dInner()), 0.5f, 1.5f);
        auto dy = test::uniform(rng, size_t(yN), -0.5f, 0.5f);
        auto dz = test::uniform(rng, size_t(rows * zStride), -0.5f, 0.5f);
        auto gZ = test::uniform(rng, size_t(HRP), -0.5f, 0.5f);
        auto gO = test::uniform(rng, size_t(HRP), -0.5f, 0.5f);
        auto gN = test::uniform(rng, size_t(d.dInner()), -0.5f, 0.5f);
        DevArray dY(y), dZ(z), dDout(dout), dMz(mimoZ), dMo(mimoO), dNw(normW), dDy(dy), dDz(dz),
            dGZ(gZ), dGO(gO), dGN(gN);
        const bool mimo = d.mimo;
        const ops::Mamba3GateParams pd{mimo ? dMz.p() : nullptr, mimo ? dMo.p() : nullptr,
                                       norm ? dNw.p() : nullptr};
        const train::Mamba3GateGrads gd{mimo ? dGZ.p() : nullptr, mimo ? dGO.p() : nullptr,
                                        norm ? dGN.p() : nullptr};
        ASSERT_EQ(tc::mamba3_gate_backward(d, pd, gd, dY.p(), dZ.p(), zStride, rows, dDout.p(),
                                           dDy.p(), dDz.p(), nullptr),
                  cudaSuccess);
        sync();
        const ops::Mamba3GateParams ph{mimo ? mimoZ.data() : nullptr, mimo ? mimoO.data() : nullptr,
                                       norm ? normW.data() : nullptr};
        const train::Mamba3GateGrads gh{mimo ? gZ.data() : nullptr, mimo ? gO.data() : nullptr,
                                        norm ? gN.data() : nullptr};
        train::mamba3_gate_backward(d, ph, gh, y.data(), z.data(), zStride, rows, dout.data(),
                                    dy.data(), dz.data());
        expectRel(dDy.get(), dy, 2e-5, "gate dy");
        expectRel(dDz.get(), dz, 2e-5, "gate dz");
        // Absent parameters' gradients must stay untouched (they are compared too).
        expectRel(dGZ.get(), gZ, 1e-4, "gate dmimoZ");
        expectRel(dGO.get(), gO, 1e-4, "gate dmimoO");
        expectRel(dGN.get(), gN, 1e-4, "gate dnormW");
        EXPECT_TRUE(dDy.guardsIntact() && dDz.guardsIntact() && dGZ.guardsIntact() &&
                    dGO.guardsIntact() && dGN.guardsIntact());

        // written: dy and dz stored over NaN, dz's columns past H*P of each row untouched.
        std::vector<float> dyW(size_t(yN), 0.0f), dzW(size_t(rows * zStride), 0.25f),
            sinkZ = gZ, sinkO = gO, sinkN = gN;
        for (int64_t t = 0; t < rows; ++t)
            for (int64_t c = 0; c < d.dInner(); ++c) dzW[size_t(t * zStride + c)] = 0.0f;
        std::vector<float> dzPoison = dzW;
        for (float& v : dzPoison)
            if (v == 0.0f) v = std::numeric_limits<float>::quiet_NaN();
        const train::Mamba3GateGrads sink{mimo ? sinkZ.data() : nullptr,
                                          mimo ? sinkO.data() : nullptr,
                                          norm ? sinkN.data() : nullptr};
        train::mamba3_gate_backward(d, ph, sink, y.data(), z.data(), zStride, rows, dout.data(),
                                    dyW.data(), dzW.data());
        DevArray wDy(yN), wDz(dzPoison), wGZ(gZ), wGO(gO), wGN(gN);
        const train::Mamba3GateGrads gw{mimo ? wGZ.p() : nullptr, mimo ? wGO.p() : nullptr,
                                        norm ? wGN.p() : nullptr};
        ASSERT_EQ(tc::mamba3_gate_backward(d, pd, gw, dY.p(), dZ.p(), zStride, rows, dDout.p(),
                                           wDy.p(), wDz.p(), nullptr, true),
                  cudaSuccess);
        // The bf16 recompute of the forward against the engine's fp32 gate, rounded.
        DevArray fwd(size_t(rows * d.dInner()));
        DevBuf<uint16_t> fwdB(std::vector<uint16_t>(size_t(rows * d.dInner()), 0x7fc0));
        lectern::cuda::mamba3_gate_forward(d, pd, dY.p(), dZ.p(), zStride, rows, fwd.p(), nullptr);
        ASSERT_EQ(
            tc::mamba3_gate_forward_bf16(d, pd, dY.p(), dZ.p(), zStride, rows, fwdB.p(), nullptr),
            cudaSuccess);
        sync();
        expectRel(wDy.get(), dyW, 2e-5, "gate dy written");
        expectRel(wDz.get(), dzW, 2e-5, "gate dz written");
        EXPECT_TRUE(wDy.guardsIntact() && wDz.guardsIntact());
        std::vector<float> mine;
        for (uint16_t b : fwdB.get()) mine.push_back(fromBf16(b));
        // One bf16 rounding (2^-8 relative) of values that may differ in the last fp32 bits.
        expectRel(mine, rounded(fwd.get()), 8e-3, "gate forward bf16");
    }
}

// The bf16 step's SISO q/k recompute against the engine's op it stands in for, its bf16 instance
// against its own fp32 values rounded; MIMO refused.
TEST(CudaBackward, QkRotatedSisoMatchesTheEngine) {
    for (int round = 0; round < kRounds; ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        ops::Mamba3Dims d = randomDims(rng, false);
        d.N = 4 * int(pick(rng, 1, 32));
        d.A = int(pick(rng, 1, d.N / 2));
        const int64_t rows = pick(rng, 1, 300), S = d.dInProj();
        std::printf("seed %llu rows=%lld %s\n", (unsigned long long)seed, (long long)rows,
                    dimsStr(d).c_str());
        const auto proj = test::uniform(rng, size_t(rows * S), -2, 2);
        const auto theta = test::uniform(rng, size_t(rows * d.H * d.A), 0, 6.28f);
        const auto bNorm = test::uniform(rng, size_t(d.N), 0.5f, 1.5f);
        const auto cNorm = test::uniform(rng, size_t(d.N), 0.5f, 1.5f);
        const auto bBias = test::uniform(rng, size_t(d.H * d.N), -0.5f, 0.5f);
        const auto cBias = test::uniform(rng, size_t(d.H * d.N), -0.5f, 0.5f);
        const size_t qkN = size_t(rows * d.H * d.N);
        DevArray dProj(proj), dTheta(theta), dBn(bNorm), dCn(cNorm), dBb(bBias), dCb(cBias),
            q0(qkN), k0(qkN), q1(qkN), k1(qkN);
        const ops::Mamba3PreprocessParams pd{nullptr, dBn.p(), dCn.p(), dBb.p(), dCb.p()};
        lectern::cuda::mamba3_qk_rotated_forward(d, pd, dProj.p(), rows, dTheta.p(), q0.p(), k0.p(),
                                                 nullptr);
        ASSERT_TRUE(tc::mamba3_qk_rotated_siso_forward(d, pd, dProj.p(), rows, dTheta.p(), q1.p(),
                                                       k1.p(), nullptr));
        sync();
        expectRel(q1.get(), q0.get(), 2e-5, "qk siso q");
        expectRel(k1.get(), k0.get(), 2e-5, "qk siso k");
        EXPECT_TRUE(q1.guardsIntact() && k1.guardsIntact());
        // The bf16 instance: the fp32 form's values, rounded once (NaN-filled before).
        DevBuf<uint16_t> qB(std::vector<uint16_t>(qkN, 0x7fc0)), kB(qB.get());
        ASSERT_TRUE(tc::mamba3_qk_rotated_siso_bf16_forward(d, pd, dProj.p(), rows, dTheta.p(),
                                                            qB.p(), kB.p(), nullptr));
        sync();
        auto expectRounded = [&](const DevBuf<uint16_t>& dev, const DevArray& ref,
                                 const char* what) {
            std::vector<float> mine;
            for (uint16_t b : dev.get()) mine.push_back(fromBf16(b));
            expectRel(mine, rounded(ref.get()), 8e-3, what);
        };
        expectRounded(qB, q1, "qk siso bf16 q");
        expectRounded(kB, k1, "qk siso bf16 k");
        d.mimo = true, d.R = 2;
        EXPECT_FALSE(tc::mamba3_qk_rotated_siso_forward(d, pd, dProj.p(), rows, dTheta.p(), q1.p(),
                                                        k1.p(), nullptr));
        EXPECT_FALSE(tc::mamba3_qk_rotated_siso_bf16_forward(d, pd, dProj.p(), rows, dTheta.p(),
                                                             qB.p(), kB.p(), nullptr));
    }
}

TEST(CudaBackward, CrossEntropy) {
    for (int round = 0; round < kRounds + 1; ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        const int64_t batch = pick(rng, 1, 3), T = round == 0 ? 1 : pick(rng, 2, 60);
        const int64_t V = round == 1 ? 50304 : pick(rng, 1, 3000);
        const double gradScale = double(pick(rng, 1, 1000)) * 1e-3;
        std::printf("seed %llu batch=%lld T=%lld V=%lld gradScale=%g\n", (unsigned long long)seed,
                    (long long)batch, (long long)T, (long long)V, gradScale);
        auto logits = test::uniform(rng, size_t(batch * T * V), -8, 8);
        logits[size_t(rng() % logits.size())] = 90.0f;  // exp(90) overflows fp32: must not matter
        std::vector<int32_t> ids(size_t(batch * T));
        for (auto& i : ids) i = int32_t(rng() % uint64_t(V));
        double refLoss = 0.0;
        std::vector<float> ref(logits.size());
        for (int64_t b = 0; b < batch; ++b)
            refLoss +=
                train::cross_entropy_forward_backward(logits.data() + b * T * V, ids.data() + b * T,
                                                      T, V, gradScale, ref.data() + b * T * V);
        DevArray dLogits(logits), dGrad(logits.size());  // dlogits poisoned: WRITTEN
        DevBuf<int32_t> dIds(ids);
        DevBuf<double> loss({0.25}), lossOnly({0.0});  // += : starts at 0.25
        ASSERT_EQ(tc::cross_entropy_forward_backward(dLogits.p(), dIds.p(), batch, T, V, loss.p(),
                                                     gradScale, dGrad.p(), nullptr),
                  cudaSuccess);
        ASSERT_EQ(tc::cross_entropy_forward_backward(dLogits.p(), dIds.p(), batch, T, V,
                                                     lossOnly.p(), gradScale, nullptr, nullptr),
                  cudaSuccess);
        sync();
        const double got = loss.get()[0] - 0.25, got2 = lossOnly.get()[0];
        std::printf("  loss gpu %.12g cpu %.12g\n", got, refLoss);
        EXPECT_NEAR(got, refLoss, 1e-6 * std::max(1.0, std::fabs(refLoss)));
        EXPECT_NEAR(got2, got, 1e-9 * std::max(1.0, std::fabs(got)));  // dlogits null: loss only
        expectRel(dGrad.get(), ref, 2e-5, "cross-entropy dlogits");
        EXPECT_TRUE(dGrad.guardsIntact());
        // The bf16 form: the same loss, dlogits within one bf16 rounding.
        DevBuf<uint16_t> gradB(std::vector<uint16_t>(logits.size(), 0x7fc0));  // NaN: WRITTEN
        DevBuf<double> lossB({0.0});
        ASSERT_EQ(tc::cross_entropy_forward_backward_bf16(dLogits.p(), dIds.p(), batch, T, V,
                                                          lossB.p(), gradScale, gradB.p(), nullptr),
                  cudaSuccess);
        sync();
        EXPECT_NEAR(lossB.get()[0], got, 1e-9 * std::max(1.0, std::fabs(got)));
        std::vector<float> gotB;
        for (uint16_t h : gradB.get()) gotB.push_back(fromBf16(h));
        expectRel(gotB, ref, 5e-3, "cross-entropy dlogits bf16");
        if (T >= 2) {  // a target outside [0, V) makes the loss NaN (the trainer's guard)
            ids[1] = int32_t(V);
            DevBuf<int32_t> bad(ids);
            DevBuf<double> badLoss({0.0});
            ASSERT_EQ(tc::cross_entropy_forward_backward(dLogits.p(), bad.p(), batch, T, V,
                                                         badLoss.p(), gradScale, nullptr, nullptr),
                      cudaSuccess);
            sync();
            EXPECT_TRUE(std::isnan(badLoss.get()[0]));
        }
    }
}

// --answer-weight: per-row gradient weights (random, with exact 0s and 1s) against the CPU
// reference with the same weights, fp32 and bf16; the loss stays the unweighted sum.
TEST(CudaBackward, CrossEntropyRowWeights) {
    for (int round = 0; round < kRounds; ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        const int64_t batch = pick(rng, 1, 3), T = pick(rng, 2, 60);
        const int64_t V = round == 0 ? 264 : pick(rng, 1, 3000);
        const double gradScale = double(pick(rng, 1, 1000)) * 1e-3;
        std::printf("seed %llu batch=%lld T=%lld V=%lld gradScale=%g\n", (unsigned long long)seed,
                    (long long)batch, (long long)T, (long long)V, gradScale);
        auto logits = test::uniform(rng, size_t(batch * T * V), -8, 8);
        std::vector<int32_t> ids(size_t(batch * T));
        for (auto& i : ids) i = int32_t(rng() % uint64_t(V));
        auto weights = test::uniform(rng, size_t(batch * T), 0, 30);
        for (auto& w : weights) {
            const uint64_t r = rng() % 4;
            if (r == 0) w = 1.0f;
            if (r == 1) w = 0.0f;
        }
        double refLoss = 0.0;
        std::vector<float> ref(logits.size());
        for (int64_t b = 0; b < batch; ++b)
            refLoss += train::cross_entropy_forward_backward(
                logits.data() + b * T * V, ids.data() + b * T, T, V, gradScale,
                ref.data() + b * T * V, weights.data() + b * T);
        DevArray dLogits(logits), dGrad(logits.size());  // dlogits poisoned: WRITTEN
        DevBuf<int32_t> dIds(ids);
        DevBuf<float> dWeights(weights);
        DevBuf<double> loss({0.0}), lossPlain({0.0});
        ASSERT_EQ(tc::cross_entropy_forward_backward(dLogits.p(), dIds.p(), batch, T, V, loss.p(),
                                                     gradScale, dGrad.p(), nullptr, dWeights.p()),
                  cudaSuccess);
        ASSERT_EQ(tc::cross_entropy_forward_backward(dLogits.p(), dIds.p(), batch, T, V,
                                                     lossPlain.p(), gradScale, nullptr, nullptr),
                  cudaSuccess);
        sync();
        const double got = loss.get()[0];
        EXPECT_NEAR(got, refLoss, 1e-6 * std::max(1.0, std::fabs(refLoss)));
        EXPECT_NEAR(got, lossPlain.get()[0], 1e-9 * std::max(1.0, std::fabs(got)));  // unweighted
        expectRel(dGrad.get(), ref, 2e-5, "weighted cross-entropy dlogits");
        EXPECT_TRUE(dGrad.guardsIntact());
        DevBuf<uint16_t> gradB(std::vector<uint16_t>(logits.size(), 0x7fc0));  // NaN: WRITTEN
        DevBuf<double> lossB({0.0});
        ASSERT_EQ(
            tc::cross_entropy_forward_backward_bf16(dLogits.p(), dIds.p(), batch, T, V, lossB.p(),
                                                    gradScale, gradB.p(), nullptr, dWeights.p()),
            cudaSuccess);
        sync();
        EXPECT_NEAR(lossB.get()[0], got, 1e-9 * std::max(1.0, std::fabs(got)));
        std::vector<float> gotB;
        for (uint16_t h : gradB.get()) gotB.push_back(fromBf16(h));
        expectRel(gotB, ref, 5e-3, "weighted cross-entropy dlogits bf16");
    }
}

TEST(CudaBackward, AdamW) {
    for (int round = 0; round < kRounds; ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        const int64_t n = round == 0 ? pick(rng, 1, 40) : pick(rng, 1000, 300000);
        const float wd = round % 2 ? 0.0f : 0.1f;
        std::printf("seed %llu n=%lld wd=%g\n", (unsigned long long)seed, (long long)n, wd);
        train::AdamWConfig c;
        auto w = test::uniform(rng, size_t(n), -1, 1);
        std::vector<float> m(size_t(n), 0.0f), v(size_t(n), 0.0f);
        DevArray dW(w), dM(m), dV(v);
        DevBuf<double> guard({1.0});
        for (int step = 1; step <= 5; ++step) {
            auto g = test::uniform(rng, size_t(n), -1, 1);
            const float factor = step == 3 ? 0.37f : 1.0f;  // a clipped step
            const double lr = 1e-3 * step;
            DevArray dG(g);
            tc::AdamWStep a;
            a.lr = lr, a.beta1 = c.beta1, a.beta2 = c.beta2, a.eps = c.eps, a.wd = wd;
            a.step = step, a.gradFactor = factor;
            ASSERT_EQ(tc::adamw_step(a, dW.p(), dG.p(), dM.p(), dV.p(), n, guard.p(), nullptr),
                      cudaSuccess);
            sync();
            for (float& x : g) x *= factor;  // scaleGrads, as the trainer clips
            train::adamw_tensor(c, lr, wd, step, w.data(), g.data(), m.data(), v.data(), n);
        }
        expectRel(dW.get(), w, 1e-6, "adamw w");
        expectRel(dM.get(), m, 1e-6, "adamw m");
        expectRel(dV.get(), v, 1e-6, "adamw v");
        // A non-finite gradient norm: nothing moves, not even the moments.
        for (double bad : {double(NAN), double(INFINITY)}) {
            DevBuf<double> badGuard({bad});
            DevArray dG(test::uniform(rng, size_t(n), -1, 1));
            const auto w0 = dW.get(), m0 = dM.get(), v0 = dV.get();
            tc::AdamWStep a;
            a.lr = 1e-2, a.step = 6, a.wd = wd;
            ASSERT_EQ(tc::adamw_step(a, dW.p(), dG.p(), dM.p(), dV.p(), n, badGuard.p(), nullptr),
                      cudaSuccess);
            sync();
            EXPECT_TRUE(dW.get() == w0 && dM.get() == m0 && dV.get() == v0);
        }
        EXPECT_TRUE(dW.guardsIntact() && dM.guardsIntact() && dV.guardsIntact());
    }
}

// The one-launch form over a flat buffer of tensors with and without decay equals
// adamw_step a tensor at a time, bit for bit (chunks small enough that runs are cut).
TEST(CudaBackward, AdamWChunksMatchOneLaunchATensor) {
    for (int round = 0; round < kRounds; ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        std::vector<tc::AdamWTensor> tensors;
        int64_t n = 0;
        for (int i = int(pick(rng, 1, 12)); i > 0; --i) {
            const int64_t len = pick(rng, 1, 5000);
            tensors.push_back({n, len, rng() % 3 != 0});
            n += len;
        }
        const int64_t chunk = pick(rng, 1, 3000);
        std::printf("seed %llu tensors=%zu n=%lld chunk=%lld\n", (unsigned long long)seed,
                    tensors.size(), (long long)n, (long long)chunk);
        const auto table = tc::adamw_chunks(tensors, chunk);
        int64_t covered = 0;
        for (const auto& c : table) {
            ASSERT_TRUE(c.n >= 1 && c.n <= chunk && c.offset == covered);
            covered += c.n;
        }
        ASSERT_EQ(covered, n);
        DevBuf<tc::AdamWChunk> dTable(table);
        const auto w = test::uniform(rng, size_t(n), -1, 1);
        const std::vector<float> zeros(size_t(n), 0.0f);
        DevArray w1(w), w2(w), m1(zeros), m2(zeros), v1(zeros), v2(zeros);
        DevBuf<double> guard({1.0});
        for (int step = 1; step <= 3; ++step) {
            DevArray dG(test::uniform(rng, size_t(n), -1, 1));
            tc::AdamWStep a;
            a.lr = 1e-3 * step, a.step = step, a.wd = 0.1f, a.gradFactor = step == 2 ? 0.5f : 1.0f;
            for (const auto& t : tensors) {
                tc::AdamWStep at = a;
                at.wd = t.decay ? a.wd : 0.0f;
                ASSERT_EQ(
                    tc::adamw_step(at, w1.p() + t.offset, dG.p() + t.offset, m1.p() + t.offset,
                                   v1.p() + t.offset, t.n, guard.p(), nullptr),
                    cudaSuccess);
            }
            ASSERT_EQ(tc::adamw_step_chunks(a, dTable.p(), int64_t(table.size()), w2.p(), dG.p(),
                                            m2.p(), v2.p(), guard.p(), nullptr),
                      cudaSuccess);
            sync();
        }
        EXPECT_TRUE(w1.get() == w2.get() && m1.get() == m2.get() && v1.get() == v2.get());
        EXPECT_TRUE(w2.guardsIntact() && m2.guardsIntact() && v2.guardsIntact());
        // A non-finite gradient norm: nothing moves.
        DevBuf<double> badGuard({double(NAN)});
        DevArray dG(test::uniform(rng, size_t(n), -1, 1));
        const auto w0 = w2.get();
        tc::AdamWStep a;
        a.lr = 1e-2, a.step = 4;
        ASSERT_EQ(tc::adamw_step_chunks(a, dTable.p(), int64_t(table.size()), w2.p(), dG.p(),
                                        m2.p(), v2.p(), badGuard.p(), nullptr),
                  cudaSuccess);
        sync();
        EXPECT_TRUE(w2.get() == w0);
    }
}

TEST(CudaBackward, GradSumsq) {
    for (int round = 0; round < kRounds; ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        const int64_t n = round == 0 ? pick(rng, 1, 300) : pick(rng, 100000, 3000000);
        std::printf("seed %llu n=%lld\n", (unsigned long long)seed, (long long)n);
        auto g = test::uniform(rng, size_t(n), -2, 2);
        double ref = 0.5;  // += : starts at 0.5
        for (float x : g) ref += double(x) * x;
        DevArray dG(g);
        DevBuf<double> ss({0.5});
        DevBuf<unsigned> flag({0u});
        ASSERT_EQ(tc::grad_sumsq(dG.p(), n, ss.p(), flag.p(), nullptr), cudaSuccess);
        sync();
        EXPECT_NEAR(ss.get()[0], ref, 1e-11 * ref);
        EXPECT_EQ(flag.get()[0], 0u);
        for (float bad : {std::nanf(""), INFINITY, -INFINITY}) {
            auto gb = g;
            gb[size_t(rng() % uint64_t(n))] = bad;
            DevArray dGb(gb);
            DevBuf<double> ssb({0.0});
            DevBuf<unsigned> flagb({0u});
            ASSERT_EQ(tc::grad_sumsq(dGb.p(), n, ssb.p(), flagb.p(), nullptr), cudaSuccess);
            ASSERT_EQ(tc::grad_sumsq(dGb.p(), n, ssb.p(), nullptr, nullptr), cudaSuccess);
            sync();
            EXPECT_FALSE(std::isfinite(ssb.get()[0]));
            EXPECT_EQ(flagb.get()[0], 1u);
        }
    }
}

}  // namespace
}  // namespace lectern
