// The Mamba-3 mixer ops on the GPU against their CPU twins, on random dims (SISO and
// MIMO, groups, ragged T not a multiple of the chunk, batch > 1, non-zero incoming
// states): mamba3_preprocess, rotary_angles, ssm_chunk_scan, ssm_step. Outputs poisoned,
// guards checked. Tolerances (max|gpu − cpu| / max|cpu|), and why:
//   preprocess 1e-5 (fp32 libm ulps, fp32 vs double norm sums); rotary q/k and angle 1e-4
//   (rad) within one 1024-token segment (same sequence of fp32 operations as the CPU, only
//   sincosf vs libm differ), 5e-4 past it (see there); scan 1e-4 (the model
//   tolerance; e^{cs} with fp32 cumulative sums vs double, and a different chunking, give
//   ~1e-6 to 1e-5); step 1e-5 (same order of operations up to fp32 reduction order).
#include "cuda/cuda_ops.h"
#include "cuda_test_util.h"
#include "ops/mamba3_preprocess.h"
#include "ops/rotary_angles.h"
#include "ops/ssm_chunk_scan.h"
#include "ops/ssm_step.h"
#include "tensor_check.h"

namespace lectern {
namespace {

using test::DevArray;
using test::uniform;

void expectRel(const std::vector<float>& gpu, const std::vector<float>& cpu, double tol,
               const std::string& what, bool angle = false) {
    ASSERT_EQ(gpu.size(), cpu.size());
    const auto e = angle ? test::compareAngle(gpu.data(), cpu.data(), gpu.size())
                         : test::compareRel(gpu.data(), cpu.data(), gpu.size());
    std::printf("  %-22s %s (tol %.0e)\n", what.c_str(), e.describe().c_str(), tol);
    EXPECT_TRUE(e.within(tol)) << what << ": " << e.describe();
}

ops::Mamba3Dims randomDims(std::mt19937_64& rng, bool mimo) {
    ops::Mamba3Dims d;
    d.G = 1 + int(rng() % 2);
    d.H = d.G * (1 + int(rng() % 3));
    d.P = int(8 << (rng() % 4));   // 8..64
    d.N = int(16 << (rng() % 4));  // 16..128
    d.R = mimo ? 1 + int(rng() % 4) : 1;
    d.mimo = mimo;
    d.A = 1 + int(rng() % (d.N / 2));
    return d;
}

struct ScanData {
    int64_t B, T;
    std::vector<float> q, k, x, adt, dt, trap, D, mimoX, ssm, kS, vS;
    int64_t xStride;
};

ScanData randomScan(std::mt19937_64& rng, const ops::Mamba3Dims& d, int64_t B, int64_t T) {
    ScanData s{B, T};
    const size_t rows = size_t(B * T), qk = rows * d.R * d.H * d.N;
    s.xStride = d.dInner() + 5;
    s.q = uniform(rng, qk, -1, 1);
    s.k = uniform(rng, qk, -1, 1);
    s.x = uniform(rng, rows * size_t(s.xStride), -1, 1);
    s.adt = uniform(rng, rows * d.H, -0.6f, -0.001f);
    s.dt = uniform(rng, rows * d.H, 0.001f, 0.5f);
    s.trap = uniform(rng, rows * d.H, 0.05f, 0.95f);
    s.D = uniform(rng, size_t(d.H), 0.5f, 1.5f);
    s.mimoX = uniform(rng, size_t(d.H) * d.R * d.P, 0.5f, 1.5f);
    s.ssm = uniform(rng, size_t(B) * d.H * d.P * d.N, -1, 1);
    s.kS = uniform(rng, size_t(B) * d.R * d.H * d.N, -1, 1);
    s.vS = uniform(rng, size_t(B) * d.H * d.P, -1, 1);
    return s;
}

// The CPU twin over each document in turn; returns y and leaves the states in s.
std::vector<float> cpuScan(const ops::Mamba3Dims& d, ScanData& s, bool chunked) {
    std::vector<float> y(size_t(s.B * s.T) * d.R * d.H * d.P);
    const int64_t qk = int64_t(d.R) * d.H * d.N;
    for (int64_t b = 0; b < s.B; ++b) {
        const int64_t r0 = b * s.T;
        const ops::SsmScanInputs in{s.q.data() + r0 * qk,
                                    s.k.data() + r0 * qk,
                                    s.x.data() + r0 * s.xStride,
                                    s.xStride,
                                    s.adt.data() + r0 * d.H,
                                    s.dt.data() + r0 * d.H,
                                    s.trap.data() + r0 * d.H,
                                    s.D.data(),
                                    d.mimo ? s.mimoX.data() : nullptr};
        const ops::SsmStateRef st{s.ssm.data() + b * d.H * d.P * d.N, s.kS.data() + b * qk,
                                  s.vS.data() + b * d.H * d.P};
        float* yb = y.data() + r0 * d.R * d.H * d.P;
        if (chunked)
            cpu::ssm_chunk_scan_forward(d, 16, in, s.T, yb, st);
        else
            cpu::ssm_step_forward(d, in, s.T, yb, st);
    }
    return y;
}

void runScanCase(bool mimo, bool chunked) {
    for (int round = 0; round < test::rounds(6); ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        const ops::Mamba3Dims d = randomDims(rng, mimo);
        const int64_t B = 1 + int64_t(rng() % 3), T = 1 + int64_t(rng() % 200);
        std::printf("seed %llu H=%d P=%d N=%d R=%d B=%lld T=%lld %s\n", (unsigned long long)seed,
                    d.H, d.P, d.N, d.R, (long long)B, (long long)T, chunked ? "chunked" : "step");
        ScanData s = randomScan(rng, d, B, T);
        DevArray q(s.q), k(s.k), x(s.x), adt(s.adt), dt(s.dt), trap(s.trap), D(s.D), mx(s.mimoX);
        DevArray ssm(s.ssm), kS(s.kS), vS(s.vS), y(size_t(B * T) * d.R * d.H * d.P);
        const ops::SsmScanInputs in{q.p(),     k.p(),   x.p(),
                                    s.xStride, adt.p(), dt.p(),
                                    trap.p(),  D.p(),   mimo ? mx.p() : nullptr};
        const ops::SsmStateRef st{ssm.p(), kS.p(), vS.p()};
        cudaError_t e;
        if (chunked) {
            const int64_t wsFloats = cuda::ssm_chunk_scan_workspace_floats(d, B, T);
            DevArray ws(static_cast<size_t>(wsFloats));
            const int Ck = cuda::ssm_chunk_tokens(d);
            const int64_t nC = (T + Ck - 1) / Ck;
            cuda::ScanWorkspace w{ws.p(), ws.p() + B * d.H * nC * d.P * d.N, wsFloats};
            e = cuda::ssm_chunk_scan_forward(d, in, B, T, y.p(), st, w, nullptr);
            EXPECT_TRUE(ws.guardsIntact()) << "scan workspace overrun";
        } else {
            e = cuda::ssm_step_forward(d, in, B, T, y.p(), st, nullptr);
        }
        ASSERT_EQ(e, cudaSuccess) << cudaGetErrorString(e);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        const std::vector<float> yRef = cpuScan(d, s, chunked);
        const double tol = chunked ? 1e-4 : 1e-5;
        expectRel(y.get(), yRef, tol, "y");
        expectRel(ssm.get(), s.ssm, tol, "ssm state");
        expectRel(kS.get(), s.kS, 0.0, "k state");
        expectRel(vS.get(), s.vS, 0.0, "v state");
        for (const DevArray* a : {&y, &ssm, &kS, &vS, &q, &k, &x}) EXPECT_TRUE(a->guardsIntact());
    }
}

TEST(CudaScan, ChunkedSiso) {
    runScanCase(false, true);
}
TEST(CudaScan, ChunkedMimo) {
    runScanCase(true, true);
}
TEST(CudaScan, StepSiso) {
    runScanCase(false, false);
}
TEST(CudaScan, StepMimo) {
    runScanCase(true, false);
}

TEST(CudaScan, PreprocessAndRotary) {
    for (int round = 0; round < test::rounds(8); ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        const ops::Mamba3Dims d = randomDims(rng, round % 2 == 1);
        // Round 0 is long enough for several rotary segments (1024 tokens each).
        const int64_t B = 1 + int64_t(rng() % 3),
                      rows0 = round == 0 ? 2500 + int64_t(rng() % 800) : 0;
        const int64_t T = rows0 ? rows0 : 1 + int64_t(rng() % 150), rows = B * T;
        std::printf("seed %llu H=%d G=%d N=%d R=%d A=%d B=%lld T=%lld\n", (unsigned long long)seed,
                    d.H, d.G, d.N, d.R, d.A, (long long)B, (long long)T);
        const auto proj = uniform(rng, size_t(rows * d.dInProj()), -4, 4);
        const auto dtBias = uniform(rng, size_t(d.H), -4, 1);
        const auto bN = uniform(rng, size_t(d.N), 0.5f, 1.5f),
                   cN = uniform(rng, size_t(d.N), 0.5f, 1.5f);
        const size_t HRN = size_t(d.H) * d.R * d.N;
        const auto bB = uniform(rng, HRN, 0, 2), cB = uniform(rng, HRN, 0, 2);
        DevArray dProj(proj), dDtB(dtBias), dBN(bN), dCN(cN), dBB(bB), dCB(cB);
        const size_t qkN = size_t(rows) * d.R * d.H * d.N, hN = size_t(rows * d.H);
        DevArray q(qkN), k(qkN), dt(hN), adt(hN), trap(hN), dth(hN * d.A);
        cuda::mamba3_preprocess_forward(d, {dDtB.p(), dBN.p(), dCN.p(), dBB.p(), dCB.p()},
                                        dProj.p(), rows, q.p(), k.p(), dt.p(), adt.p(), trap.p(),
                                        dth.p(), nullptr);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        std::vector<float> rq(qkN), rk(qkN), rdt(hN), radt(hN), rtrap(hN), rdth(hN * d.A);
        cpu::mamba3_preprocess_forward(
            d, {dtBias.data(), bN.data(), cN.data(), bB.data(), cB.data()}, proj.data(), rows,
            rq.data(), rk.data(), rdt.data(), radt.data(), rtrap.data(), rdth.data());
        expectRel(q.get(), rq, 1e-5, "q");
        expectRel(k.get(), rk, 1e-5, "k");
        expectRel(dt.get(), rdt, 1e-5, "dt");
        expectRel(adt.get(), radt, 1e-5, "adt");
        expectRel(trap.get(), rtrap, 1e-5, "trap");
        expectRel(dth.get(), rdth, 1e-5, "dtheta");
        // Rotary on the CPU's preprocess outputs so the two ops are tested separately.
        auto angle = uniform(rng, size_t(B) * d.H * d.A, 0, 6.28f);
        DevArray dAng(angle);
        q.set(rq);
        k.set(rk);
        dth.set(rdth);
        cuda::rotary_angles_forward(d, q.p(), k.p(), dAng.p(), dth.p(), B, T, nullptr);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        const int64_t qk = int64_t(d.R) * d.H * d.N;
        for (int64_t b = 0; b < B; ++b)
            cpu::rotary_angles_forward(d, rq.data() + b * T * qk, rk.data() + b * T * qk,
                                       angle.data() + b * d.H * d.A,
                                       rdth.data() + b * T * d.H * d.A, T);
        // Past one segment the GPU starts each segment from a double sum while the CPU has
        // wrapped in fp32 at every token (~1e-7 rad each): allow the golden 5e-4 there.
        const double rt = T > 1024 ? 5e-4 : 1e-4;
        expectRel(q.get(), rq, rt, "rotated q");
        expectRel(k.get(), rk, rt, "rotated k");
        expectRel(dAng.get(), angle, rt, "angle state", true);
        for (const DevArray* a : {&q, &k, &dt, &adt, &trap, &dth, &dAng})
            EXPECT_TRUE(a->guardsIntact());
    }
}

}  // namespace
}  // namespace lectern
