// The Mamba-3 mixer ops on the GPU against their CPU twins, on random dims (SISO and
// MIMO, groups, ragged T not a multiple of the chunk, batch > 1, non-zero incoming
// states): mamba3_preprocess, rotary_angles (and their fused form), ssm_chunk_scan,
// ssm_step. Outputs poisoned, guards checked. Tolerances (max|gpu − cpu| / max|cpu|), and why:
//   preprocess 1e-5 (fp32 libm ulps, fp32 vs double norm sums); rotary q/k and angle 1e-4
//   (rad) within one 256-token segment (same sequence of fp32 operations as the CPU, only
//   sincosf vs libm differ), 5e-4 past it (see there); scan 1e-4 (the model
//   tolerance; e^{cs} with fp32 cumulative sums vs double, and a different chunking, give
//   ~1e-6 to 1e-5); step 1e-5 (same order of operations up to fp32 reduction order);
//   the bf16 tensor-core scan 2e-2 on y and the state (q, k, v, the decay-weighted
//   scores and the chunk-entry states are rounded to bf16, 8 mantissa bits: ~4e-3 per
//   operand, sums of up to 128 products; seen up to 6.1e-3 on an H100), nmse under 1e-4.
//   The bf16 scan runs also with q/k handed over in bf16 (the fp32 arrays NaN but each
//   document's last k row) and with bf16 incoming chunk states (the model's path), and
//   the bf16 q/k kernel is checked within one bf16 step (4e-3) of the fp32 one. The walk and
//   the fused q/k op reading bf16 in_proj rows (prefill_proj_bf16.h) are checked against the
//   CPU on the same rows' values widened, to the tolerances of their fp32-row forms: the
//   kernels do the same maths on the same values (the rows' own rounding is the GEMM's, as
//   in the official bf16 model, and is covered end to end by test_cuda_model's bf16 case).
#include <algorithm>
#include <cstring>
#include <limits>

#include "cuda/cuda_ops.h"
#include "cuda/prefill_proj_bf16.h"
#include "cuda/prefill_qk_angles_theta.h"
#include "cuda/prefill_walk_bf16_out.h"
#include "cuda_test_util.h"
#include "ops/mamba3_gate.h"
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

// Round to nearest even, as __float2bfloat16_rn (no NaN inputs here).
uint16_t toBf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

using test::fromBf16;

// a then b in bf16, in one device array (ScanWorkspace::qkBf16's layout).
struct Bf16Pair {
    explicit Bf16Pair(const std::vector<float>& a, const std::vector<float>& b)
        : dev((a.size() + b.size() + 1) / 2) {
        std::vector<uint16_t> h(a.size() + b.size());
        for (size_t i = 0; i < a.size(); ++i) h[i] = toBf16(a[i]);
        for (size_t i = 0; i < b.size(); ++i) h[a.size() + i] = toBf16(b[i]);
        cudaMemcpy(dev.p(), h.data(), h.size() * 2, cudaMemcpyHostToDevice);
    }
    DevArray dev;
};

ops::Mamba3Dims randomDims(std::mt19937_64& rng, bool mimo, bool tensorCoreDims = false) {
    ops::Mamba3Dims d;
    d.G = 1 + int(rng() % 2);
    d.H = d.G * (1 + int(rng() % 3));
    d.P = tensorCoreDims ? int(16 << (rng() % 3)) : int(8 << (rng() % 4));  // 8..64
    d.N = int(16 << (rng() % 4));                                           // 16..128
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
    // An odd stride half the time (x rows not 16-byte aligned: the bf16 scan's 4-byte loads)
    s.xStride = d.dInner() + (rng() % 2 ? 5 : 8);
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

// The CPU scan's inputs from row r0 (a document's first token, or a piece's) on.
ops::SsmScanInputs inputsAt(const ops::Mamba3Dims& d, const ScanData& s, int64_t r0) {
    const int64_t qk = int64_t(d.R) * d.H * d.N;
    return {s.q.data() + r0 * qk,
            s.k.data() + r0 * qk,
            s.x.data() + r0 * s.xStride,
            s.xStride,
            s.adt.data() + r0 * d.H,
            s.dt.data() + r0 * d.H,
            s.trap.data() + r0 * d.H,
            s.D.data(),
            d.mimo ? s.mimoX.data() : nullptr};
}

// The CPU twin over each document in turn; returns y and leaves the states in s.
std::vector<float> cpuScan(const ops::Mamba3Dims& d, ScanData& s, bool chunked) {
    std::vector<float> y(size_t(s.B * s.T) * d.R * d.H * d.P);
    const int64_t qk = int64_t(d.R) * d.H * d.N;
    for (int64_t b = 0; b < s.B; ++b) {
        const int64_t r0 = b * s.T;
        const ops::SsmScanInputs in = inputsAt(d, s, r0);
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

void runScanCase(bool mimo, bool chunked, cuda::ScanMath math = cuda::ScanMath::Fp32) {
    const bool bf16 = math == cuda::ScanMath::Bf16;
    for (int round = 0; round < test::rounds(6); ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        const ops::Mamba3Dims d = randomDims(rng, mimo, bf16);
        if (bf16) {
            ASSERT_TRUE(cuda::ssm_chunk_scan_bf16_fits(d));
        }
        // Every other step round is one token (decode: the kernel splits the rows p).
        const int64_t B = 1 + int64_t(rng() % 3),
                      T = !chunked && round % 2 == 0 ? 1 : 1 + int64_t(rng() % (bf16 ? 400 : 200));
        std::printf("seed %llu H=%d P=%d N=%d R=%d B=%lld T=%lld %s%s%s\n",
                    (unsigned long long)seed, d.H, d.P, d.N, d.R, (long long)B, (long long)T,
                    chunked ? "chunked" : "step",
                    bf16 && round % 4 < 2 ? " (bf16 incoming states)" : "",
                    chunked && bf16 && round % 2 == 0 ? " (bf16 q/k)" : "");
        ScanData s = randomScan(rng, d, B, T);
        // bf16, even rounds: q and k handed over in bf16 (ScanWorkspace::qkBf16); the
        // fp32 arrays are then NaN except each document's last k row (the state's key).
        const bool qkBf16 = chunked && bf16 && round % 2 == 0;
        std::vector<float> qIn = s.q, kIn = s.k;
        if (qkBf16) {
            const size_t rowQK = size_t(d.R) * d.H * d.N;
            std::fill(qIn.begin(), qIn.end(), std::numeric_limits<float>::quiet_NaN());
            for (size_t i = 0; i < kIn.size(); ++i)
                if ((int64_t(i / rowQK) + 1) % T != 0)
                    kIn[i] = std::numeric_limits<float>::quiet_NaN();
        }
        const Bf16Pair qkB(qkBf16 ? s.q : std::vector<float>{},
                           qkBf16 ? s.k : std::vector<float>{});
        DevArray q(qIn), k(kIn), x(s.x), adt(s.adt), dt(s.dt), trap(s.trap), D(s.D), mx(s.mimoX);
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
            // bf16: rounds 0-1 mod 4 with the bf16 incoming-state buffer (phase 2 writes
            // bf16 states for phase 3), else phase 3 reads the fp32 slots.
            const int64_t stateIn = B * d.H * nC * d.P * d.N;
            DevArray sIn(bf16 && round % 4 < 2 ? size_t((stateIn + 1) / 2) : 1);
            if (bf16 && round % 4 < 2) w.stateInBf16 = sIn.p();
            if (qkBf16) w.qkBf16 = qkB.dev.p();
            e = cuda::ssm_chunk_scan_forward(d, in, B, T, y.p(), st, w, nullptr, math);
            EXPECT_TRUE(ws.guardsIntact()) << "scan workspace overrun";
            EXPECT_TRUE(sIn.guardsIntact()) << "bf16 incoming-state overrun";
        } else {
            e = cuda::ssm_step_forward(d, in, B, T, y.p(), st, nullptr);
        }
        ASSERT_EQ(e, cudaSuccess) << cudaGetErrorString(e);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        const std::vector<float> yRef = cpuScan(d, s, chunked);
        const double tol = bf16 ? 2e-2 : chunked ? 1e-4 : 1e-5;
        const std::vector<float> yGpu = y.get(), ssmGpu = ssm.get();
        expectRel(yGpu, yRef, tol, "y");
        expectRel(ssmGpu, s.ssm, tol, "ssm state");
        if (bf16) {
            EXPECT_LT(test::compareRel(yGpu.data(), yRef.data(), yRef.size()).nmse, 1e-4);
            EXPECT_LT(test::compareRel(ssmGpu.data(), s.ssm.data(), s.ssm.size()).nmse, 1e-4);
        }
        expectRel(kS.get(), s.kS, 0.0, "k state");
        expectRel(vS.get(), s.vS, 0.0, "v state");
        for (const DevArray* a : {&y, &ssm, &kS, &vS, &q, &k, &x}) EXPECT_TRUE(a->guardsIntact());
        EXPECT_TRUE(qkB.dev.guardsIntact());
    }
}

TEST(CudaScan, ChunkedSiso) {
    runScanCase(false, true);
}
TEST(CudaScan, ChunkedMimo) {
    runScanCase(true, true);
}
TEST(CudaScan, ChunkedBf16Siso) {
    runScanCase(false, true, cuda::ScanMath::Bf16);
}
TEST(CudaScan, ChunkedBf16Mimo) {
    runScanCase(true, true, cuda::ScanMath::Bf16);
}
// The whole-document walk (ssm_prefill_scan_forward), SISO: two calls in a row carrying
// the state (ragged lengths, batch > 1, 1 to 5 segments a document or the automatic
// choice; P 16..64, every fourth round 128), q/k in bf16 with the fp32 arrays NaN but each
// document's last k row, against the CPU's chunked scan; every other round with the gate in its
// epilogue (with and without the out norm) against the CPU's scan then gate, rounds 5 and 7 with
// that output in bf16 (ssm_prefill_scan_forward_bf16_gate). Tolerances as the bf16 scan's.
TEST(CudaScan, PrefillWalkBf16Siso) {
    for (int round = 0; round < test::rounds(8); ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        ops::Mamba3Dims d = randomDims(rng, false, true);
        if (round % 4 == 3) {  // the walk's widest head (its y tiles are sized by P)
            d.P = 128;
            d.N = std::min(d.N, 32);
            d.A = std::min(d.A, d.N / 2);
        }
        ASSERT_TRUE(cuda::ssm_prefill_scan_fits(d));
        const int64_t B = 1 + int64_t(rng() % 3);
        const int segments = int(round % 6), gated = round % 2, normed = round % 4 < 2;
        const bool outBf16 = gated && round % 8 >= 4;
        const int64_t Ts[2] = {1 + int64_t(rng() % 700), 1 + int64_t(rng() % 300)};
        std::printf("seed %llu H=%d P=%d N=%d B=%lld T=%lld+%lld segments %d%s%s\n",
                    (unsigned long long)seed, d.H, d.P, d.N, (long long)B, (long long)Ts[0],
                    (long long)Ts[1], segments,
                    gated ? (normed ? " gated" : " gated, no norm") : "",
                    outBf16 ? ", bf16 out" : "");
        ScanData s = randomScan(rng, d, B, Ts[0]);
        DevArray ssm(s.ssm), kS(s.kS), vS(s.vS);
        const auto normW = uniform(rng, size_t(d.H) * d.P, 0.5f, 1.5f);
        DevArray dNorm(normW);
        for (int call = 0; call < 2; ++call) {
            const int64_t T = Ts[call], rows = B * T;
            if (call == 1) {  // the next piece of the same documents
                ScanData next = randomScan(rng, d, B, T);
                next.ssm = s.ssm;
                next.kS = s.kS;
                next.vS = s.vS;
                s = std::move(next);
            }
            const size_t rowQK = size_t(d.H) * d.N;
            std::vector<float> kIn(s.k.size(), std::numeric_limits<float>::quiet_NaN());
            for (size_t i = 0; i < kIn.size(); ++i)
                if ((int64_t(i / rowQK) + 1) % T == 0) kIn[i] = s.k[i];
            const Bf16Pair qkB(s.q, s.k);
            DevArray q(std::vector<float>(s.q.size(), std::numeric_limits<float>::quiet_NaN()));
            DevArray k(kIn), x(s.x), adt(s.adt), dt(s.dt), trap(s.trap), D(s.D);
            const auto z = uniform(rng, size_t(rows) * s.xStride, -3, 3);
            DevArray dz(z), y(size_t(rows) * d.H * d.P), out(size_t(rows) * d.dInner());
            DevArray outB((size_t(rows) * d.dInner() + 1) / 2);  // bf16 pairs
            const ops::SsmScanInputs in{q.p(),  k.p(),    x.p(), s.xStride, adt.p(),
                                        dt.p(), trap.p(), D.p(), nullptr};
            const int64_t wsFloats = cuda::ssm_chunk_scan_workspace_floats(d, B, T);
            DevArray ws(static_cast<size_t>(wsFloats));
            cuda::ScanWorkspace w{ws.p(), nullptr, wsFloats};
            w.qkBf16 = qkB.dev.p();
            const cuda::PrefillGate pg{dz.p(), s.xStride, normed ? dNorm.p() : nullptr, out.p()};
            const ops::SsmStateRef st{ssm.p(), kS.p(), vS.p()};
            const cudaError_t e =
                outBf16 ? cuda::ssm_prefill_scan_forward_bf16_gate(d, in, B, T, st, w, nullptr, pg,
                                                                   outB.p(), segments)
                        : cuda::ssm_prefill_scan_forward(d, in, B, T, y.p(), st, w, nullptr,
                                                         gated ? &pg : nullptr, segments);
            ASSERT_EQ(e, cudaSuccess) << cudaGetErrorString(e);
            ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
            const std::vector<float> yRef = cpuScan(d, s, true);
            if (gated) {
                std::vector<float> oRef(size_t(rows) * d.dInner());
                cpu::mamba3_gate_forward(d, {nullptr, nullptr, normed ? normW.data() : nullptr},
                                         yRef.data(), z.data(), s.xStride, rows, oRef.data());
                const std::vector<float> oGpu =
                    outBf16 ? test::getBf16(outB.p(), oRef.size()) : out.get();
                // 3e-2: the gate's RMSNorm divides each row by its rms, so a row of small y
                // magnifies y's bf16 roundings (seed 14548067044414233006, round 1, P 32, the
                // second call: 2.09e-2 with nmse 7.9e-6, y's own error ~3e-3 elsewhere).
                expectRel(oGpu, oRef, 3e-2, "gated y");
                EXPECT_LT(test::compareRel(oGpu.data(), oRef.data(), oRef.size()).nmse, 1e-4);
            } else {
                const std::vector<float> yGpu = y.get();
                expectRel(yGpu, yRef, 2e-2, "y");
                EXPECT_LT(test::compareRel(yGpu.data(), yRef.data(), yRef.size()).nmse, 1e-4);
            }
            const std::vector<float> ssmGpu = ssm.get();
            expectRel(ssmGpu, s.ssm, 2e-2, "ssm state");
            EXPECT_LT(test::compareRel(ssmGpu.data(), s.ssm.data(), s.ssm.size()).nmse, 1e-4);
            expectRel(kS.get(), s.kS, 0.0, "k state");
            expectRel(vS.get(), s.vS, 0.0, "v state");
            // Continue from the GPU's own state (as a session does), not the CPU's.
            s.ssm = ssmGpu;
            for (const DevArray* a : {&y, &out, &outB, &ssm, &kS, &vS, &ws, &q, &k})
                EXPECT_TRUE(a->guardsIntact());
            EXPECT_TRUE(qkB.dev.guardsIntact());
        }
    }
}

// Rows [rows, ld] of bf16 with the columns [from, from + n) of each from src (rows of
// srcStride floats, rounded; src is left holding the rounded values) and NaN elsewhere: what
// the bf16 prefill's in_proj leaves for the walk and the q/k op, with every column they must
// not read poisoned.
void putBf16Columns(std::vector<uint16_t>& rowsB, int64_t ld, int64_t from, std::vector<float>& src,
                    int64_t srcStride, int64_t n) {
    const int64_t rows = int64_t(rowsB.size()) / ld;
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < n; ++j) {
            float& v = src[size_t(r * srcStride + j)];
            rowsB[size_t(r * ld + from + j)] = toBf16(v);
            v = fromBf16(toBf16(v));
        }
}

// bf16 rows to the device, into a DevArray of (h.size() + 1) / 2 floats (its guards around).
void setBf16(const DevArray& a, const std::vector<uint16_t>& h) {
    cudaMemcpy(a.p(), h.data(), h.size() * 2, cudaMemcpyHostToDevice);
}

// The walk reading x and z from bf16 in_proj rows (ssm_prefill_scan_forward_bf16_proj, the
// bf16 prefill's path where in_proj writes bf16): gated (with and without the out norm), bf16
// out, against the CPU's chunked scan then gate on the rows' values widened. Rows of
// prefill_proj_bf16_stride(d) with NaN in the pad and in every column but x and z; the fp32
// x and q arrays absent or NaN. Two calls carrying the state, ragged lengths, batch > 1, 1 to 5
// segments or the automatic choice, every fourth round P 128. Tolerances as the fp32-row walk's
// (3e-2 and nmse 1e-4 on the output, 2e-2 on the state); the v state is the last token's x.
TEST(CudaScan, PrefillWalkBf16Proj) {
    for (int round = 0; round < test::rounds(8); ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        ops::Mamba3Dims d = randomDims(rng, false, true);
        if (round % 4 == 3) {
            d.P = 128;
            d.N = std::min(d.N, 32);
            d.A = std::min(d.A, d.N / 2);
        }
        ASSERT_TRUE(cuda::ssm_prefill_scan_fits(d));
        const int64_t B = 1 + int64_t(rng() % 3), ld = cuda::prefill_proj_bf16_stride(d);
        const int segments = int(round % 6);
        const bool normed = round % 2 == 0;
        const int64_t Ts[2] = {1 + int64_t(rng() % 700), 1 + int64_t(rng() % 300)};
        std::printf("seed %llu H=%d P=%d N=%d B=%lld T=%lld+%lld segments %d ld %lld%s\n",
                    (unsigned long long)seed, d.H, d.P, d.N, (long long)B, (long long)Ts[0],
                    (long long)Ts[1], segments, (long long)ld, normed ? "" : ", no norm");
        ScanData s = randomScan(rng, d, B, Ts[0]);
        DevArray ssm(s.ssm), kS(s.kS), vS(s.vS);
        const auto normW = uniform(rng, size_t(d.H) * d.P, 0.5f, 1.5f);
        DevArray dNorm(normW);
        for (int call = 0; call < 2; ++call) {
            const int64_t T = Ts[call], rows = B * T;
            if (call == 1) {
                ScanData next = randomScan(rng, d, B, T);
                next.ssm = s.ssm;
                next.kS = s.kS;
                next.vS = s.vS;
                s = std::move(next);
            }
            std::vector<float> z = uniform(rng, size_t(rows) * d.dInner(), -3, 3);
            std::vector<uint16_t> projH(size_t(rows * ld), 0x7FC0);  // NaN
            putBf16Columns(projH, ld, d.offX(), s.x, s.xStride, d.dInner());
            putBf16Columns(projH, ld, d.offZ(), z, d.dInner(), d.dInner());
            DevArray proj((projH.size() + 1) / 2);
            setBf16(proj, projH);
            const size_t rowQK = size_t(d.H) * d.N;
            std::vector<float> kIn(s.k.size(), std::numeric_limits<float>::quiet_NaN());
            for (size_t i = 0; i < kIn.size(); ++i)
                if ((int64_t(i / rowQK) + 1) % T == 0) kIn[i] = s.k[i];
            const Bf16Pair qkB(s.q, s.k);
            DevArray k(kIn), adt(s.adt), dt(s.dt), trap(s.trap), D(s.D);
            DevArray outB((size_t(rows) * d.dInner() + 1) / 2);
            const ops::SsmScanInputs in{nullptr, k.p(),    nullptr, 0,      adt.p(),
                                        dt.p(),  trap.p(), D.p(),   nullptr};
            const int64_t wsFloats = cuda::ssm_chunk_scan_workspace_floats(d, B, T);
            DevArray ws(static_cast<size_t>(wsFloats));
            cuda::ScanWorkspace w{ws.p(), nullptr, wsFloats};
            w.qkBf16 = qkB.dev.p();
            const ops::SsmStateRef st{ssm.p(), kS.p(), vS.p()};
            if (call == 0)  // rows whose x would be 16-byte misaligned: declined, nothing run
                EXPECT_EQ(cuda::ssm_prefill_scan_forward_bf16_proj(
                              d, in, proj.p(), ld + 4, B, T, st, w, nullptr, dNorm.p(), outB.p()),
                          cudaErrorInvalidValue);
            const cudaError_t e = cuda::ssm_prefill_scan_forward_bf16_proj(
                d, in, proj.p(), ld, B, T, st, w, nullptr, normed ? dNorm.p() : nullptr, outB.p(),
                segments);
            ASSERT_EQ(e, cudaSuccess) << cudaGetErrorString(e);
            ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
            const std::vector<float> yRef = cpuScan(d, s, true);
            std::vector<float> oRef(size_t(rows) * d.dInner());
            cpu::mamba3_gate_forward(d, {nullptr, nullptr, normed ? normW.data() : nullptr},
                                     yRef.data(), z.data(), d.dInner(), rows, oRef.data());
            const std::vector<float> oGpu = test::getBf16(outB.p(), oRef.size());
            expectRel(oGpu, oRef, 3e-2, "gated y");
            EXPECT_LT(test::compareRel(oGpu.data(), oRef.data(), oRef.size()).nmse, 1e-4);
            const std::vector<float> ssmGpu = ssm.get();
            expectRel(ssmGpu, s.ssm, 2e-2, "ssm state");
            EXPECT_LT(test::compareRel(ssmGpu.data(), s.ssm.data(), s.ssm.size()).nmse, 1e-4);
            expectRel(kS.get(), s.kS, 0.0, "k state");
            expectRel(vS.get(), s.vS, 0.0, "v state");
            s.ssm = ssmGpu;
            for (const DevArray* a : {&proj, &outB, &ssm, &kS, &vS, &ws, &k})
                EXPECT_TRUE(a->guardsIntact());
            EXPECT_TRUE(qkB.dev.guardsIntact());
        }
    }
}

// The CPU scan of document b in pieces of `chunk` tokens from the state in s (left there at the
// end): y for its rows into y, and the state entering each piece into states (P·N each).
void cpuScanPieces(const ops::Mamba3Dims& d, ScanData& s, int64_t b, int64_t chunk,
                   std::vector<float>& y, std::vector<std::vector<float>>& states) {
    const int64_t qk = int64_t(d.H) * d.N, PN = int64_t(d.H) * d.P * d.N;
    const ops::SsmStateRef st{s.ssm.data() + b * PN, s.kS.data() + b * qk,
                              s.vS.data() + b * d.H * d.P};
    for (int64_t t0 = 0; t0 < s.T; t0 += chunk) {
        states.emplace_back(st.ssm, st.ssm + PN);
        const int64_t r0 = b * s.T + t0;
        const ops::SsmScanInputs in = inputsAt(d, s, r0);
        cpu::ssm_step_forward(d, in, std::min(chunk, s.T - t0), y.data() + r0 * d.H * d.P, st);
    }
}

// The training forward's walk (ssm_prefill_scan_forward_checkpoints): y and the fp32 state
// entering every 64·stride-token piece of each document ([B, nChk, H, P, N]; the scan
// backward's checkpoints), against the CPU's step scan run piece by piece. Ragged lengths,
// batch > 1, checkpoint strides 1 and 2, 1 to 5 segments or the automatic choice, a zero
// (training) or random incoming state. The outputs start NaN, so a slot left unwritten fails.
TEST(CudaScan, PrefillWalkCheckpoints) {
    for (int round = 0; round < test::rounds(6); ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        ops::Mamba3Dims d = randomDims(rng, false, true);
        if (round == 5) {  // the walk's widest head
            d.P = 128;
            d.N = std::min(d.N, 32);
            d.A = std::min(d.A, d.N / 2);
        }
        ASSERT_TRUE(cuda::ssm_prefill_scan_fits(d));
        const int64_t B = 2 + int64_t(rng() % 2), T = 1 + int64_t(rng() % 600), rows = B * T;
        const int stride = 1 + round % 2, segments = int(round % 6);
        const bool zeroState = round % 3 != 2;
        const int64_t nChk = ((T + 63) / 64 + stride - 1) / stride, PN = int64_t(d.P) * d.N;
        std::printf("seed %llu H=%d P=%d N=%d B=%lld T=%lld stride %d segments %d%s\n",
                    (unsigned long long)seed, d.H, d.P, d.N, (long long)B, (long long)T, stride,
                    segments, zeroState ? ", zero state" : "");
        ScanData s = randomScan(rng, d, B, T);
        if (zeroState) {
            std::fill(s.ssm.begin(), s.ssm.end(), 0.0f);
            std::fill(s.kS.begin(), s.kS.end(), 0.0f);
            std::fill(s.vS.begin(), s.vS.end(), 0.0f);
        }
        const Bf16Pair qkB(s.q, s.k);
        DevArray q(std::vector<float>(s.q.size(), std::numeric_limits<float>::quiet_NaN()));
        DevArray k(s.k), x(s.x), adt(s.adt), dt(s.dt), trap(s.trap), D(s.D);
        DevArray ssm(s.ssm), kS(s.kS), vS(s.vS), y(size_t(rows) * d.H * d.P);
        DevArray ckpt(size_t(B * nChk * d.H * PN));
        const ops::SsmScanInputs in{q.p(),  k.p(),    x.p(), s.xStride, adt.p(),
                                    dt.p(), trap.p(), D.p(), nullptr};
        const int64_t wsFloats = cuda::ssm_chunk_scan_workspace_floats(d, B, T);
        DevArray ws(static_cast<size_t>(wsFloats));
        cuda::ScanWorkspace w{ws.p(), nullptr, wsFloats};
        w.qkBf16 = qkB.dev.p();
        // Twice from the same state: the second call's y and checkpoints equal the first's bit
        // for bit (each is written by one program, in a fixed order).
        DevArray y2(size_t(rows) * d.H * d.P), ckpt2(size_t(B * nChk * d.H * PN));
        for (int call = 0; call < 2; ++call) {
            ssm.set(s.ssm);
            kS.set(s.kS);
            vS.set(s.vS);
            const cudaError_t e = cuda::ssm_prefill_scan_forward_checkpoints(
                d, in, B, T, call ? y2.p() : y.p(), ops::SsmStateRef{ssm.p(), kS.p(), vS.p()}, w,
                nullptr, call ? ckpt2.p() : ckpt.p(), stride, segments);
            ASSERT_EQ(e, cudaSuccess) << cudaGetErrorString(e);
            ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        }
        EXPECT_TRUE(y.get() == y2.get() && ckpt.get() == ckpt2.get()) << "the walk did not repeat";
        std::vector<float> yRef(size_t(rows) * d.H * d.P), ckRef(size_t(B * nChk * d.H * PN));
        for (int64_t b = 0; b < B; ++b) {
            std::vector<std::vector<float>> states;  // [nChk][H, P, N]
            cpuScanPieces(d, s, b, 64 * stride, yRef, states);
            ASSERT_EQ(int64_t(states.size()), nChk);
            for (int64_t c = 0; c < nChk; ++c)
                std::copy(states[size_t(c)].begin(), states[size_t(c)].end(),
                          ckRef.begin() + (b * nChk + c) * d.H * PN);
        }
        const std::vector<float> yGpu = y.get(), ckGpu = ckpt.get();
        expectRel(yGpu, yRef, 2e-2, "y");
        EXPECT_LT(test::compareRel(yGpu.data(), yRef.data(), yRef.size()).nmse, 1e-4);
        expectRel(ckGpu, ckRef, 2e-2, "checkpoints");
        EXPECT_LT(test::compareRel(ckGpu.data(), ckRef.data(), ckRef.size()).nmse, 1e-4);
        expectRel(ssm.get(), s.ssm, 2e-2, "ssm state");
        for (const DevArray* a : {&y, &ckpt, &ssm, &kS, &vS, &ws, &q, &k})
            EXPECT_TRUE(a->guardsIntact());
        EXPECT_TRUE(qkB.dev.guardsIntact());
    }
}

// The model's bf16 prefill path end to end: preprocess scalars, running angles, and the
// tensor-core scan making q and k from the in_proj rows itself (the q/k arrays it is
// given are NaN, so reading them would fail), against the CPU's preprocess, rotary and
// chunked scan. Tolerance as the bf16 scan's.
void runFromProjCase(bool mimo) {
    for (int round = 0; round < test::rounds(4); ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        const ops::Mamba3Dims d = randomDims(rng, mimo, true);
        const int64_t B = 1 + int64_t(rng() % 3), T = 1 + int64_t(rng() % 400), rows = B * T;
        std::printf("seed %llu H=%d G=%d P=%d N=%d R=%d A=%d B=%lld T=%lld from in_proj\n",
                    (unsigned long long)seed, d.H, d.G, d.P, d.N, d.R, d.A, (long long)B,
                    (long long)T);
        const auto proj = uniform(rng, size_t(rows * d.dInProj()), -2, 2);
        const auto dtBias = uniform(rng, size_t(d.H), -4, 1);
        const auto bN = uniform(rng, size_t(d.N), 0.5f, 1.5f),
                   cN = uniform(rng, size_t(d.N), 0.5f, 1.5f);
        const size_t HRN = size_t(d.H) * d.R * d.N;
        const auto bB = uniform(rng, HRN, 0, 1), cB = uniform(rng, HRN, 0, 1);
        const auto Dv = uniform(rng, size_t(d.H), 0.5f, 1.5f);
        const auto mimoX = uniform(rng, size_t(d.H) * d.R * d.P, 0.5f, 1.5f);
        auto angle = uniform(rng, size_t(B) * d.H * d.A, 0, 6.28f);
        auto ssm = uniform(rng, size_t(B) * d.H * d.P * d.N, -1, 1);
        auto kS = uniform(rng, size_t(B) * HRN, -1, 1);
        auto vS = uniform(rng, size_t(B) * d.H * d.P, -1, 1);
        DevArray dProj(proj), dDtB(dtBias), dBN(bN), dCN(cN), dBB(bB), dCB(cB), dD(Dv), dMx(mimoX),
            dAng(angle), dSsm(ssm), dKS(kS), dVS(vS);
        const size_t qkN = size_t(rows) * d.R * d.H * d.N, hN = size_t(rows * d.H);
        DevArray q(qkN), k(qkN), dt(hN), adt(hN), trap(hN), dth(hN * d.A), th(hN * d.A);
        DevArray y(size_t(rows) * d.R * d.H * d.P);
        const ops::Mamba3PreprocessParams pp{dDtB.p(), dBN.p(), dCN.p(), dBB.p(), dCB.p()};
        cuda::mamba3_preprocess_scalars_forward(d, pp, dProj.p(), rows, dt.p(), adt.p(), trap.p(),
                                                dth.p(), nullptr);
        cuda::rotary_theta_forward(d, dAng.p(), dth.p(), th.p(), B, T, nullptr);
        const ops::SsmScanInputs in{q.p(),       k.p(),   dProj.p() + d.offX(),
                                    d.dInProj(), adt.p(), dt.p(),
                                    trap.p(),    dD.p(),  mimo ? dMx.p() : nullptr};
        const int64_t wsFloats = cuda::ssm_chunk_scan_workspace_floats(d, B, T);
        DevArray ws(static_cast<size_t>(wsFloats));
        const int64_t nC = (T + cuda::ssm_chunk_tokens(d) - 1) / cuda::ssm_chunk_tokens(d);
        cuda::ScanWorkspace w{ws.p(), ws.p() + B * d.H * nC * d.P * d.N, wsFloats};
        DevArray sIn(round % 2 == 0 ? size_t((B * d.H * nC * d.P * d.N + 1) / 2) : 1);
        if (round % 2 == 0) w.stateInBf16 = sIn.p();  // bf16 incoming states in even rounds
        const cuda::QKFromProj src{dProj.p(), pp, th.p()};
        const cudaError_t e =
            cuda::ssm_chunk_scan_forward(d, in, B, T, y.p(), {dSsm.p(), dKS.p(), dVS.p()}, w,
                                         nullptr, cuda::ScanMath::Bf16, &src);
        ASSERT_EQ(e, cudaSuccess) << cudaGetErrorString(e);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        // CPU: preprocess, rotary, chunked scan per document.
        std::vector<float> rq(qkN), rk(qkN), rdt(hN), radt(hN), rtrap(hN), rdth(hN * d.A);
        cpu::mamba3_preprocess_forward(
            d, {dtBias.data(), bN.data(), cN.data(), bB.data(), cB.data()}, proj.data(), rows,
            rq.data(), rk.data(), rdt.data(), radt.data(), rtrap.data(), rdth.data());
        const int64_t qk = int64_t(d.R) * d.H * d.N;
        std::vector<float> yRef(size_t(rows) * d.R * d.H * d.P);
        for (int64_t b = 0; b < B; ++b) {
            cpu::rotary_angles_forward(d, rq.data() + b * T * qk, rk.data() + b * T * qk,
                                       angle.data() + b * d.H * d.A,
                                       rdth.data() + b * T * d.H * d.A, T);
            const int64_t r0 = b * T;
            const ops::SsmScanInputs ci{rq.data() + r0 * qk,
                                        rk.data() + r0 * qk,
                                        proj.data() + r0 * d.dInProj() + d.offX(),
                                        d.dInProj(),
                                        radt.data() + r0 * d.H,
                                        rdt.data() + r0 * d.H,
                                        rtrap.data() + r0 * d.H,
                                        Dv.data(),
                                        mimo ? mimoX.data() : nullptr};
            const ops::SsmStateRef cs{ssm.data() + b * d.H * d.P * d.N, kS.data() + b * qk,
                                      vS.data() + b * d.H * d.P};
            cpu::ssm_chunk_scan_forward(d, 16, ci, T, yRef.data() + r0 * d.R * d.H * d.P, cs);
        }
        const std::vector<float> yGpu = y.get(), ssmGpu = dSsm.get();
        expectRel(yGpu, yRef, 2e-2, "y");
        expectRel(ssmGpu, ssm, 2e-2, "ssm state");
        expectRel(dKS.get(), kS, 1e-4, "k state (rotated last k)");
        expectRel(dVS.get(), vS, 0.0, "v state");
        expectRel(dAng.get(), angle, T > 256 ? 5e-4 : 1e-4, "angle state", true);
        EXPECT_LT(test::compareRel(yGpu.data(), yRef.data(), yRef.size()).nmse, 1e-4);
        for (const DevArray* a : {&y, &dSsm, &dKS, &dVS, &dAng, &ws, &th})
            EXPECT_TRUE(a->guardsIntact());
    }
}

TEST(CudaScan, ChunkedBf16FromProjSiso) {
    runFromProjCase(false);
}
TEST(CudaScan, ChunkedBf16FromProjMimo) {
    runFromProjCase(true);
}
TEST(CudaScan, StepSiso) {
    runScanCase(false, false);
}
TEST(CudaScan, StepMimo) {
    runScanCase(true, false);
}

// Random preprocess inputs (in_proj rows, dt bias, B/C norm weights and biases) on the
// host and the device.
struct PreprocessInputs {
    PreprocessInputs(std::mt19937_64& rng, const ops::Mamba3Dims& d, int64_t rows)
        : proj(uniform(rng, size_t(rows * d.dInProj()), -4, 4)),
          dtBias(uniform(rng, size_t(d.H), -4, 1)),
          bN(uniform(rng, size_t(d.N), 0.5f, 1.5f)),
          cN(uniform(rng, size_t(d.N), 0.5f, 1.5f)),
          bB(uniform(rng, size_t(d.H) * d.R * d.N, 0, 2)),
          cB(uniform(rng, size_t(d.H) * d.R * d.N, 0, 2)),
          dProj(proj),
          dDtB(dtBias),
          dBN(bN),
          dCN(cN),
          dBB(bB),
          dCB(cB) {}
    ops::Mamba3PreprocessParams host() const {
        return {dtBias.data(), bN.data(), cN.data(), bB.data(), cB.data()};
    }
    ops::Mamba3PreprocessParams dev() const {
        return {dDtB.p(), dBN.p(), dCN.p(), dBB.p(), dCB.p()};
    }
    std::vector<float> proj, dtBias, bN, cN, bB, cB;
    DevArray dProj, dDtB, dBN, dCN, dBB, dCB;
};

TEST(CudaScan, PreprocessAndRotary) {
    for (int round = 0; round < test::rounds(8); ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        const ops::Mamba3Dims d = randomDims(rng, round % 2 == 1);
        // Round 0 is long enough for several rotary segments (256 tokens or more each).
        const int64_t B = 1 + int64_t(rng() % 3),
                      rows0 = round == 0 ? 2500 + int64_t(rng() % 800) : 0;
        const int64_t T = rows0 ? rows0 : 1 + int64_t(rng() % 150), rows = B * T;
        std::printf("seed %llu H=%d G=%d N=%d R=%d A=%d B=%lld T=%lld\n", (unsigned long long)seed,
                    d.H, d.G, d.N, d.R, d.A, (long long)B, (long long)T);
        const PreprocessInputs in(rng, d, rows);
        const std::vector<float>& proj = in.proj;
        const DevArray& dProj = in.dProj;
        const size_t qkN = size_t(rows) * d.R * d.H * d.N, hN = size_t(rows * d.H);
        DevArray q(qkN), k(qkN), dt(hN), adt(hN), trap(hN), dth(hN * d.A);
        cuda::mamba3_preprocess_forward(d, in.dev(), dProj.p(), rows, q.p(), k.p(), dt.p(), adt.p(),
                                        trap.p(), dth.p(), nullptr);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        std::vector<float> rq(qkN), rk(qkN), rdt(hN), radt(hN), rtrap(hN), rdth(hN * d.A);
        cpu::mamba3_preprocess_forward(d, in.host(), proj.data(), rows, rq.data(), rk.data(),
                                       rdt.data(), radt.data(), rtrap.data(), rdth.data());
        expectRel(q.get(), rq, 1e-5, "q");
        expectRel(k.get(), rk, 1e-5, "k");
        expectRel(dt.get(), rdt, 1e-5, "dt");
        expectRel(adt.get(), radt, 1e-5, "adt");
        expectRel(trap.get(), rtrap, 1e-5, "trap");
        expectRel(dth.get(), rdth, 1e-5, "dtheta");
        // Rotary on the CPU's preprocess outputs so the two ops are tested separately.
        auto angle = uniform(rng, size_t(B) * d.H * d.A, 0, 6.28f);
        const std::vector<float> angle0 = angle;
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
        const double rt = T > 256 ? 5e-4 : 1e-4;
        expectRel(q.get(), rq, rt, "rotated q");
        expectRel(k.get(), rk, rt, "rotated k");
        expectRel(dAng.get(), angle, rt, "angle state", true);
        for (const DevArray* a : {&q, &k, &dt, &adt, &trap, &dth, &dAng})
            EXPECT_TRUE(a->guardsIntact());
        // The model's fused path: scalars and increments, running angles, then q and k
        // normalised and rotated in one pass; the same results as the two ops above.
        const ops::Mamba3PreprocessParams pp = in.dev();
        DevArray q2(qkN), k2(qkN), dt2(hN), adt2(hN), trap2(hN), dth2(hN * d.A), th(hN * d.A);
        DevArray dAng2(angle0);
        cuda::mamba3_preprocess_scalars_forward(d, pp, dProj.p(), rows, dt2.p(), adt2.p(),
                                                trap2.p(), dth2.p(), nullptr);
        cuda::rotary_theta_forward(d, dAng2.p(), dth2.p(), th.p(), B, T, nullptr);
        cuda::mamba3_qk_rotated_forward(d, pp, dProj.p(), rows, th.p(), q2.p(), k2.p(), nullptr);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        expectRel(q2.get(), rq, rt, "fused q");
        expectRel(k2.get(), rk, rt, "fused k");
        // Its bf16 form (the tensor-core scan's input): q and k rounded once (within one
        // bf16 step of the fp32 kernel's values, 2^-8 relative), each document's last k
        // row also in fp32, equal to the fp32 kernel's.
        {
            DevArray qkb(qkN), kLast(qkN);
            kLast.set(std::vector<float>(qkN, 0.0f));
            const bool ran = cuda::mamba3_qk_rotated_bf16_forward(
                d, pp, dProj.p(), rows, T, th.p(), qkb.p(), qkb.p() + qkN / 2, kLast.p(), nullptr);
            ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
            EXPECT_EQ(ran, rows >= 64);  // few rows: refused, the fp32 op applies
            if (ran) {
                std::vector<uint16_t> h(2 * qkN);
                cudaMemcpy(h.data(), qkb.p(), h.size() * 2, cudaMemcpyDeviceToHost);
                const std::vector<float> q32 = q2.get(), k32 = k2.get(), kl = kLast.get();
                std::vector<float> qb(qkN), kb(qkN);
                for (size_t i = 0; i < qkN; ++i) {
                    qb[i] = fromBf16(h[i]);
                    kb[i] = fromBf16(h[qkN + i]);
                }
                expectRel(qb, q32, 4e-3, "fused q (bf16)");
                expectRel(kb, k32, 4e-3, "fused k (bf16)");
                const size_t rowQK = size_t(d.R) * d.H * d.N;
                std::vector<float> lastGpu, lastRef;
                for (int64_t b = 0; b < B; ++b)
                    for (size_t i = 0; i < rowQK; ++i) {
                        const size_t at = size_t(b * T + T - 1) * rowQK + i;
                        lastGpu.push_back(kl[at]);
                        lastRef.push_back(k32[at]);
                    }
                expectRel(lastGpu, lastRef, 1e-6, "fused last k rows (fp32)");
                EXPECT_TRUE(qkb.guardsIntact());
                EXPECT_TRUE(kLast.guardsIntact());
            }
        }
        expectRel(dt2.get(), rdt, 1e-5, "fused dt");
        expectRel(adt2.get(), radt, 1e-5, "fused adt");
        expectRel(trap2.get(), rtrap, 1e-5, "fused trap");
        expectRel(dAng2.get(), angle, rt, "fused angle state", true);
        for (const DevArray* a : {&q2, &k2, &dt2, &adt2, &trap2, &dth2, &th, &dAng2})
            EXPECT_TRUE(a->guardsIntact());
    }
}

// The bf16 SISO prefill's fused preprocess (prefill_qk_angles_bf16_forward) against the CPU
// twins (preprocess, then rotary per document): dt, A·dt, trap 1e-5; q and k in bf16 within
// one bf16 step of the CPU's fp32 (4e-3) plus the angle tolerance; the last k rows (fp32)
// and the angle state within 1e-4 for one segment (<= 64 tokens: the CPU's fp32 sequence),
// 5e-4 past it (double segment sums, as rotary_angles). Two calls in a row carry the state.
// Rows::Bf16: the op reading bf16 in_proj rows (prefill_qk_angles_bf16_proj_forward; NaN in
// the rows' pad), the CPU on their values widened, to the same tolerances. Rows::Fp32Theta:
// the training's instance (prefill_qk_angles_bf16_theta_forward), whose running angles (theta,
// NaN-poisoned) are held against the CPU's (advanceAngle from the state, as the CPU rotary
// runs them) to the angle state's tolerance. outs (optional): every other output of both
// calls, appended, so that the instances can be compared bit for bit.
enum class QkRows { Fp32, Bf16, Fp32Theta };

void checkPrefillQkAnglesRows(std::mt19937_64& rng, uint64_t seed, const ops::Mamba3Dims& d,
                              int64_t B, int64_t T, QkRows mode,
                              std::vector<float>* outs = nullptr) {
    const bool bf16Rows = mode == QkRows::Bf16, withTheta = mode == QkRows::Fp32Theta;
    const int64_t rows = B * T, HA = int64_t(d.H) * d.A;
    std::printf("seed %llu H=%d G=%d N=%d A=%d B=%lld T=%lld%s\n", (unsigned long long)seed, d.H,
                d.G, d.N, d.A, (long long)B, (long long)T,
                bf16Rows    ? " (bf16 rows)"
                : withTheta ? " (fp32 rows, theta out)"
                            : "");
    const size_t qkN = size_t(rows) * d.H * d.N, hN = size_t(rows * d.H);
    std::vector<float> angle = uniform(rng, size_t(B * HA), 0, 6.28f);
    DevArray dAng(angle), dt(hN), adt(hN), trap(hN), qkb(qkN), kLast(qkN), scratch(hN * d.A);
    for (int call = 0; call < 2; ++call) {
        const PreprocessInputs in(rng, d, rows);
        std::vector<float> proj = in.proj;
        const int64_t ld = cuda::prefill_proj_bf16_stride(d);
        std::vector<uint16_t> projH(bf16Rows ? size_t(rows * ld) : 0, 0x7FC0);  // NaN
        if (bf16Rows) putBf16Columns(projH, ld, 0, proj, d.dInProj(), d.dInProj());
        DevArray projB((projH.size() + 1) / 2);
        setBf16(projB, projH);
        std::vector<float> rq(qkN), rk(qkN), rdt(hN), radt(hN), rtrap(hN), rdth(hN * d.A);
        cpu::mamba3_preprocess_forward(d, in.host(), proj.data(), rows, rq.data(), rk.data(),
                                       rdt.data(), radt.data(), rtrap.data(), rdth.data());
        // The running angles of every token [rows, H, A], from the state before the call.
        std::vector<float> rth(size_t(rows * HA));
        for (int64_t b = 0; b < B; ++b)
            for (int64_t ha = 0; ha < HA; ++ha) {
                double th = angle[size_t(b * HA + ha)];
                for (int64_t t = 0; t < T; ++t) {
                    const size_t at = size_t((b * T + t) * HA + ha);
                    th = cpu::advanceAngle(th, rdth[at]);
                    rth[at] = float(th);
                }
            }
        for (int64_t b = 0; b < B; ++b)
            cpu::rotary_angles_forward(d, rq.data() + b * T * d.H * d.N,
                                       rk.data() + b * T * d.H * d.N, angle.data() + b * HA,
                                       rdth.data() + b * T * HA, T);
        kLast.set(std::vector<float>(qkN, 0.0f));
        const size_t scratchBytes = hN * d.A * sizeof(float);
        DevArray theta(withTheta ? size_t(rows * HA) : 1);
        ASSERT_TRUE(
            bf16Rows
                ? cuda::prefill_qk_angles_bf16_proj_forward(
                      d, in.dev(), projB.p(), ld, B, T, dAng.p(), scratch.p(), scratchBytes,
                      qkb.p(), qkb.p() + qkN / 2, kLast.p(), dt.p(), adt.p(), trap.p(), nullptr)
            : withTheta
                ? cuda::prefill_qk_angles_bf16_theta_forward(
                      d, in.dev(), in.dProj.p(), B, T, dAng.p(), scratch.p(), scratchBytes, qkb.p(),
                      qkb.p() + qkN / 2, kLast.p(), dt.p(), adt.p(), trap.p(), theta.p(), nullptr)
                : cuda::prefill_qk_angles_bf16_forward(
                      d, in.dev(), in.dProj.p(), B, T, dAng.p(), scratch.p(), scratchBytes, qkb.p(),
                      qkb.p() + qkN / 2, kLast.p(), dt.p(), adt.p(), trap.p(), nullptr));
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        const double rt = T > 64 ? 5e-4 : 1e-4;
        // q then k, qkN bf16 each
        expectRel(test::getBf16(qkb.p(), qkN), rq, 4e-3 + rt, "q (bf16)");
        expectRel(test::getBf16(qkb.p() + qkN / 2, qkN), rk, 4e-3 + rt, "k (bf16)");
        std::vector<float> lastGpu, lastRef;
        const std::vector<float> kl = kLast.get();
        const size_t rowQK = size_t(d.H) * d.N;
        for (int64_t b = 0; b < B; ++b)
            for (size_t i = 0; i < rowQK; ++i) {
                const size_t at = size_t(b * T + T - 1) * rowQK + i;
                lastGpu.push_back(kl[at]);
                lastRef.push_back(rk[at]);
            }
        expectRel(lastGpu, lastRef, rt, "last k rows (fp32)");
        expectRel(dt.get(), rdt, 1e-5, "dt");
        expectRel(adt.get(), radt, 1e-5, "adt");
        expectRel(trap.get(), rtrap, 1e-5, "trap");
        expectRel(dAng.get(), angle, rt, "angle state", true);
        if (withTheta) {
            expectRel(theta.get(), rth, rt, "running angles (theta)", true);
            EXPECT_TRUE(theta.guardsIntact());
        }
        if (outs) {
            for (const std::vector<float>& v :
                 {test::getBf16(qkb.p(), 2 * qkN), kl, dt.get(), adt.get(), trap.get(), dAng.get()})
                outs->insert(outs->end(), v.begin(), v.end());
        }
        for (const DevArray* a : {&dAng, &dt, &adt, &trap, &qkb, &kLast, &scratch, &projB})
            EXPECT_TRUE(a->guardsIntact());
    }
}

// The op on fp32 rows, then on the same inputs' bf16 rows (fresh outputs), then the
// training's instance on the same fp32 rows: its other outputs equal the prefill's bit for bit.
void checkPrefillQkAngles(std::mt19937_64& rng, uint64_t seed, const ops::Mamba3Dims& d, int64_t B,
                          int64_t T) {
    std::mt19937_64 again = rng, third = rng;
    std::vector<float> prefill, training;
    checkPrefillQkAnglesRows(rng, seed, d, B, T, QkRows::Fp32, &prefill);
    checkPrefillQkAnglesRows(again, seed, d, B, T, QkRows::Bf16);
    checkPrefillQkAnglesRows(third, seed, d, B, T, QkRows::Fp32Theta, &training);
    ASSERT_EQ(prefill.size(), training.size());
    size_t differ = 0;
    for (size_t i = 0; i < prefill.size(); ++i)
        differ += std::memcmp(&prefill[i], &training[i], sizeof(float)) != 0;
    EXPECT_EQ(differ, 0u) << "of " << prefill.size()
                          << " q, k, last k, dt, adt, trap and angle state values of the theta "
                             "instance, these differ from the prefill's";
}

TEST(CudaScan, PrefillQkAnglesBf16) {
    for (int round = 0; round < test::rounds(8); ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        ops::Mamba3Dims d = randomDims(rng, false);
        // Rounds 0, 4, ...: rows of a multiple of 4 floats, so that the kernel's 16-byte row
        // copies run; rounds 2, 6, ...: A a multiple of 4 (its 16-byte cos/sin reads); the odd
        // ones as the dims fall.
        while (round % 4 == 0 && d.dInProj() % 4 != 0) d.A = d.A % (d.N / 2) + 1;
        if (round % 4 == 2) d.A = std::max(4, d.A / 4 * 4);
        // Rounds 3, 7, ...: more angles than a whole segment's staged scalars allow (tiles
        // of them restaged between the totals and the q/k pass).
        if (round % 4 == 3) d.N = 128, d.A = 49 + int(rng() % 16);
        const int64_t B = 1 + int64_t(rng() % 3);
        // Round 1 (and every third after it): one segment; round 2 the longest.
        const int64_t T = round % 3 == 1 ? 1 + int64_t(rng() % 64)
                                         : 65 + int64_t(rng() % (round == 2 ? 5000 : 700));
        checkPrefillQkAngles(rng, seed, d, B, T);
    }
}

// The block shapes the random dims above never make: (round 0) the benchmark's head chunk
// (8 heads of 32 angles, N 128, one group: a unit a thread, each warp's pieces all rotated or
// all plain) over two chunks, and (round 1) more units than threads (N 256, 8 heads: each
// thread loops over two).
TEST(CudaScan, PrefillQkAnglesBf16WideChunks) {
    for (int round = 0; round < test::rounds(2); ++round) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        ops::Mamba3Dims d = randomDims(rng, false);
        d.H = 16, d.G = 1, d.N = 128, d.A = 32;
        if (round % 2 == 1) d.H = 8, d.G = 2, d.N = 256, d.A = 1 + int(rng() % 32);
        const int64_t B = 1 + int64_t(rng() % 2), T = 65 + int64_t(rng() % 400);
        checkPrefillQkAngles(rng, seed, d, B, T);
    }
}

// The op at the shapes of the models once reported failing with it on (CudaModel.
// Bf16PrefillMatchesCpu seeds 5560950304453907404 and 16675568557942877943: H 4 N 16 and H 2
// N 32, one call of 91 tokens and two of 82 and 79; the golden siso_tiny and siso_mlp_norm),
// which the random dims above rarely make (one group over 4+ heads, A 8 or 32, the last
// segment short), pinned so that they run every time. Those failures came from binaries that
// linked a stray copy of the op, not from this kernel (NOTES-gpu.md, session 7, helper Q4).
TEST(CudaScan, PrefillQkAnglesBf16ModelShapes) {
    struct Shape {
        int H, G, P, N, A;
        int64_t B, T;
    };
    const Shape shapes[] = {{4, 1, 16, 16, 8, 2, 91},   {2, 1, 32, 32, 8, 2, 82},
                            {2, 1, 32, 32, 8, 2, 79},   {8, 1, 16, 32, 8, 1, 200},
                            {6, 1, 32, 64, 32, 1, 333}, {4, 1, 16, 16, 8, 2, 64}};
    for (const Shape& s : shapes) {
        const uint64_t seed = test::freshSeed();
        std::mt19937_64 rng(seed);
        ops::Mamba3Dims d;
        d.H = s.H, d.G = s.G, d.P = s.P, d.N = s.N, d.A = s.A;
        checkPrefillQkAngles(rng, seed, d, s.B, s.T);
    }
}

}  // namespace
}  // namespace lectern
