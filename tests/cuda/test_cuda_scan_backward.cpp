// The CUDA training scan (training/cuda/scan_backward_cuda.h) against its CPU reference
// (training/backward: ssm_scan_forward_checkpoint / ssm_scan_backward_recompute, run per
// batch row) on fresh random inputs: SISO and MIMO (R 2, 3, 4), T not a multiple of the
// chunk, T < chunk, a chunk longer than the backward's 64-token replay, batch 1 to 3,
// odd H, P and N not powers of two, the largest state supported (P 64 x N 128). Both
// backward paths run on every shape they take: the sequential token loop (every shape) and
// the chunked matrix form (SISO, P <= 64, N <= 128, chunk <= 64; the others must be refused).
// The sequential replay length is read from LECTERN_SCAN_SUBCHUNK once per process: run
// again with 3 or 8 (two levels in every chunk, ragged sub-chunks) to cover that path more.
// Likewise LECTERN_SCAN_BWD_GROUPS=1 keeps the sequential backward in one block per (row,
// head) where it would split the rows into groups (N > 64 and P > 16), and
// LECTERN_SCAN_BWD_THREADS=256 runs the chunked path in its 16 × 16-thread blocks.
// y and the checkpoints are poisoned (NaN) before the forward, the workspace before the
// backward; every gradient buffer is pre-filled with random values and the comparison is
// of what was added (the += contract; with ScanQkxGrads::Write, dq, dk and dx must hold the
// gradient alone, whatever they held before).
// Tolerances (max|gpu - cpu| / max|cpu|; a NaN or Inf never passes): forward 1e-4 (both
// fp32, the same per-token operations up to FMA contraction and the order of the sum over
// n); sequential gradients 5e-4 (the CPU carries dh and every reduction in double, the GPU
// fp32; sums of up to P·N = 8,192 products; seen on the H100: at most 3e-5); the chunked
// path's gradients the same 5e-4 (fp32 products; dadt is a difference of intra-chunk row
// and column sums and the state gradient is carried as e^{cs}-weighted chunk sums, so the
// roundings differ, but on the H100 2026-11-22 the worst was 1.7e-6). The chunked path with
// its products on the tensor cores (for the TF32 / bf16 training step: TF32 operands on fp32
// tiles) runs too, at 2e-2 (kTf32Tol). Shapes marked qkBf16 have q and k that bf16 holds
// exactly, and the TF32 form runs again reading them as bf16 (the bf16 training step's form:
// in.q / in.k NaN there, so a read of them shows; the other paths and forms must refuse bf16
// q / k). Neither path has atomics, so a
// second run must agree bit for bit.
#include <cstring>

#include "cuda_test_util.h"
#include "tensor_check.h"
#include "training/backward/backward_ops.h"
#include "training/cuda/scan_backward_cuda.h"

namespace lectern {
namespace {

using test::DevArray;
using test::uniform;

// The chunked path's tensor-core products (tf32): operands rounded to 10-bit mantissas
// (relative 2^-11 each), fp32 sums; a bar for a TF32 step, not the fp32 one.
constexpr double kTf32Tol = 2e-2;

struct Shape {
    const char* name;
    int H, P, N, R;
    int64_t batch, T, chunk;
    int xPad = 3;         // x's rows are H·P + xPad floats (odd: rows not 8-byte aligned)
    bool qkBf16 = false;  // q, k bf16 values; the TF32 form also runs on bf16 copies of them
};

uint16_t toBf16(float f) {  // round to nearest even (the inputs are finite)
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

void expectRel(const std::vector<float>& gpu, const std::vector<float>& cpu, double tol,
               const std::string& what) {
    ASSERT_EQ(gpu.size(), cpu.size());
    const auto e = test::compareRel(gpu.data(), cpu.data(), gpu.size());
    std::printf("  %-8s %s (tol %.0e)\n", what.c_str(), e.describe().c_str(), tol);
    EXPECT_TRUE(e.within(tol)) << what << ": " << e.describe();
}

// What the backward added: out − prefill, elementwise (in double, then rounded).
std::vector<float> added(const std::vector<float>& out, const std::vector<float>& prefill) {
    std::vector<float> d(out.size());
    for (size_t i = 0; i < out.size(); ++i) d[i] = float(double(out[i]) - double(prefill[i]));
    return d;
}

struct Grads {  // host copies, in SsmScanGrads order
    std::vector<float> dq, dk, dx, dadt, ddt, dtrap, dD, dmimoX;
};

void checkBackward(const ops::Mamba3Dims& d, const Shape& s, const ops::SsmScanInputs& in,
                   const float* starts, const float* dy, const Grads& pre, const Grads& ref,
                   train::cuda::ScanBackwardPath path, bool tf32, double tol,
                   train::cuda::ScanQkxGrads qkx, const void* qkBf16);

void runShape(const Shape& s) {
    const uint64_t seed = test::freshSeed();
    std::mt19937_64 rng(seed);
    ops::Mamba3Dims d;
    d.H = s.H, d.P = s.P, d.N = s.N, d.R = s.R, d.mimo = s.R > 1;
    const int64_t B = s.batch, T = s.T, rows = B * T, qk = int64_t(d.R) * d.H * d.N;
    const int64_t xStride = d.dInner() + s.xPad, nChk = train::ssm_scan_checkpoints(T, s.chunk);
    const int64_t hsz = int64_t(d.H) * d.P * d.N, ySz = int64_t(d.R) * d.dInner();
    std::printf("%s: seed %llu H=%d P=%d N=%d R=%d batch=%lld T=%lld chunk=%lld\n", s.name,
                (unsigned long long)seed, d.H, d.P, d.N, d.R, (long long)B, (long long)T,
                (long long)s.chunk);
    std::vector<float> q = uniform(rng, size_t(rows * qk), -1, 1);
    std::vector<float> k = uniform(rng, size_t(rows * qk), -1, 1);
    std::vector<uint16_t> qkH;  // q then k in bf16
    if (s.qkBf16) {
        for (const std::vector<float>* a : {&q, &k})
            for (float x : *a) qkH.push_back(toBf16(x));
        for (size_t i = 0; i < q.size(); ++i)
            q[i] = test::fromBf16(qkH[i]), k[i] = test::fromBf16(qkH[q.size() + i]);
    }
    const std::vector<float> x = uniform(rng, size_t(rows * xStride), -1, 1);
    const std::vector<float> adt = uniform(rng, size_t(rows * d.H), -0.6f, -0.001f);
    const std::vector<float> dt = uniform(rng, size_t(rows * d.H), 0.001f, 0.5f);
    const std::vector<float> trap = uniform(rng, size_t(rows * d.H), 0.05f, 0.95f);
    const std::vector<float> D = uniform(rng, size_t(d.H), 0.5f, 1.5f);
    const std::vector<float> mimoX = uniform(rng, size_t(d.H) * d.R * d.P, 0.5f, 1.5f);
    const std::vector<float> dy = uniform(rng, size_t(rows * ySz), -1, 1);
    Grads pre{uniform(rng, size_t(rows * qk), -1, 1),
              uniform(rng, size_t(rows * qk), -1, 1),
              uniform(rng, size_t(rows * xStride), -1, 1),
              uniform(rng, size_t(rows * d.H), -1, 1),
              uniform(rng, size_t(rows * d.H), -1, 1),
              uniform(rng, size_t(rows * d.H), -1, 1),
              uniform(rng, size_t(d.H), -1, 1),
              uniform(rng, mimoX.size(), -1, 1)};
    const bool mimo = d.mimo;

    // CPU, row by row.
    std::vector<float> yRef(size_t(rows * ySz)), startsRef(size_t(B * nChk * hsz));
    Grads ref = pre;
    for (int64_t b = 0; b < B; ++b) {
        const int64_t r0 = b * T;
        const ops::SsmScanInputs in{
            q.data() + r0 * qk,           k.data() + r0 * qk,   x.data() + r0 * xStride, xStride,
            adt.data() + r0 * d.H,        dt.data() + r0 * d.H, trap.data() + r0 * d.H,  D.data(),
            mimo ? mimoX.data() : nullptr};
        float* st = startsRef.data() + b * nChk * hsz;
        train::ssm_scan_forward_checkpoint(d, in, T, s.chunk, yRef.data() + r0 * ySz, st);
        const train::SsmScanGrads g{ref.dq.data() + r0 * qk,
                                    ref.dk.data() + r0 * qk,
                                    ref.dx.data() + r0 * xStride,
                                    ref.dadt.data() + r0 * d.H,
                                    ref.ddt.data() + r0 * d.H,
                                    ref.dtrap.data() + r0 * d.H,
                                    ref.dD.data(),
                                    mimo ? ref.dmimoX.data() : nullptr};
        train::ssm_scan_backward_recompute(d, in, st, T, s.chunk, dy.data() + r0 * ySz, g);
    }

    // GPU.
    DevArray devQ(q), devK(k), devX(x), devAdt(adt), devDt(dt), devTrap(trap), devD(D),
        devMx(mimoX);
    DevArray devDy(dy), y(size_t(rows * ySz)), starts(size_t(B * nChk * hsz));
    const ops::SsmScanInputs in{devQ.p(),    devK.p(),   devX.p(),
                                xStride,     devAdt.p(), devDt.p(),
                                devTrap.p(), devD.p(),   mimo ? devMx.p() : nullptr};
    cudaError_t e =
        train::cuda::ssm_scan_forward_checkpoint(d, in, B, T, s.chunk, y.p(), starts.p(), nullptr);
    ASSERT_EQ(e, cudaSuccess) << cudaGetErrorString(e);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    expectRel(y.get(), yRef, 1e-4, "y");
    expectRel(starts.get(), startsRef, 1e-4, "starts");
    EXPECT_TRUE(y.guardsIntact() && starts.guardsIntact()) << "forward overrun";

    using Path = train::cuda::ScanBackwardPath;
    const bool chunkedApplies = d.R == 1 && d.P <= 64 && d.N <= 128 && s.chunk <= 64;
    EXPECT_EQ(train::cuda::ssm_scan_backward_workspace_floats(d, B, T, s.chunk, Path::Chunked) > 0,
              chunkedApplies)
        << "the chunked path's reach";
    using Qkx = train::cuda::ScanQkxGrads;
    struct Run {
        Path path;
        bool tf32;
        double tol;
        const char* name;
        Qkx qkx = Qkx::Add;
        bool qkB = false;  // bf16 q / k
    };
    // bf16 q / k: a device copy, and in.q / in.k poisoned for the runs that take it.
    DevArray devQkB(qkH.size() / 2 + 1), nanQ(q.size()), nanK(k.size());
    if (s.qkBf16) {
        ASSERT_EQ(cudaMemcpy(devQkB.p(), qkH.data(), qkH.size() * 2, cudaMemcpyHostToDevice),
                  cudaSuccess);
    }
    ops::SsmScanInputs inNan = in;
    inNan.q = nanQ.p(), inNan.k = nanK.p();
    if (s.qkBf16) {  // the TF32 form alone takes bf16 q / k
        EXPECT_EQ(train::cuda::ssm_scan_backward_takes_bf16_qk(d, s.chunk, Path::Auto, true),
                  chunkedApplies);
        for (const Run& r :
             {Run{Path::Sequential, true, 0, ""}, Run{Path::Chunked, false, 0, ""}}) {
            EXPECT_FALSE(train::cuda::ssm_scan_backward_takes_bf16_qk(d, s.chunk, r.path, r.tf32));
            EXPECT_EQ(train::cuda::ssm_scan_backward_recompute(
                          d, in, starts.p(), B, T, s.chunk, devDy.p(), train::SsmScanGrads{},
                          nullptr, nullptr, r.path, r.tf32, Qkx::Add, devQkB.p()),
                      cudaErrorInvalidValue);
        }
    }
    for (const Run& r :
         {Run{Path::Sequential, false, 5e-4, "sequential"},
          Run{Path::Chunked, false, 5e-4, "chunked"},
          Run{Path::Chunked, true, kTf32Tol, "chunked tf32"},
          // dq, dk, dx written, not added (the training step's form).
          Run{Path::Sequential, false, 5e-4, "sequential, qkx =", Qkx::Write},
          Run{Path::Chunked, false, 5e-4, "chunked, qkx =", Qkx::Write},
          Run{Path::Chunked, true, kTf32Tol, "chunked tf32, qkx =", Qkx::Write},
          // q and k read as bf16 (the bf16 training step's form).
          Run{Path::Chunked, true, kTf32Tol, "chunked tf32, bf16 q/k", Qkx::Add, true},
          Run{Path::Chunked, true, kTf32Tol, "chunked tf32, bf16 q/k, qkx =", Qkx::Write, true}}) {
        if (r.path == Path::Chunked && !chunkedApplies) continue;
        if (r.qkB && !s.qkBf16) continue;
        std::printf(" %s backward\n", r.name);
        checkBackward(d, s, r.qkB ? inNan : in, starts.p(), devDy.p(), pre, ref, r.path, r.tf32,
                      r.tol, r.qkx, r.qkB ? devQkB.p() : nullptr);
    }
}

// One backward path, twice on the same inputs: what it added against the CPU's (with qkx
// Write, what dq, dk and dx hold: the random values there before must be gone), and the two
// runs bit for bit.
void checkBackward(const ops::Mamba3Dims& d, const Shape& s, const ops::SsmScanInputs& in,
                   const float* starts, const float* dy, const Grads& pre, const Grads& ref,
                   train::cuda::ScanBackwardPath path, bool tf32, double tol,
                   train::cuda::ScanQkxGrads qkx, const void* qkBf16) {
    const bool written = qkx == train::cuda::ScanQkxGrads::Write;
    const int64_t B = s.batch, T = s.T, rows = B * T;
    const int64_t xStride = d.dInner() + s.xPad;
    const bool mimo = d.mimo;
    const int64_t wsFloats =
        train::cuda::ssm_scan_backward_workspace_floats(d, B, T, s.chunk, path);
    ASSERT_GT(wsFloats, 0);
    std::vector<Grads> runs;
    for (int run = 0; run < 2; ++run) {
        DevArray ws{size_t(wsFloats)};  // NaN: nothing may be read before it is written
        DevArray gq(pre.dq), gk(pre.dk), gx(pre.dx), ga(pre.dadt), gdt(pre.ddt), gtr(pre.dtrap),
            gD(pre.dD), gmx(pre.dmimoX);
        const train::SsmScanGrads g{gq.p(),  gk.p(),  gx.p(), ga.p(),
                                    gdt.p(), gtr.p(), gD.p(), mimo ? gmx.p() : nullptr};
        const cudaError_t e = train::cuda::ssm_scan_backward_recompute(
            d, in, starts, B, T, s.chunk, dy, g, ws.p(), nullptr, path, tf32, qkx, qkBf16);
        ASSERT_EQ(e, cudaSuccess) << cudaGetErrorString(e);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        for (const DevArray* a : {&ws, &gq, &gk, &gx, &ga, &gdt, &gtr, &gD, &gmx})
            EXPECT_TRUE(a->guardsIntact()) << "backward overrun";
        runs.push_back(
            {gq.get(), gk.get(), gx.get(), ga.get(), gdt.get(), gtr.get(), gD.get(), gmx.get()});
    }
    const Grads& got = runs[0];
    const char* names[] = {"dq", "dk", "dx", "dadt", "ddt", "dtrap", "dD", "dmimoX"};
    const std::vector<float> Grads::*fields[] = {&Grads::dq,   &Grads::dk,    &Grads::dx,
                                                 &Grads::dadt, &Grads::ddt,   &Grads::dtrap,
                                                 &Grads::dD,   &Grads::dmimoX};
    for (int f = 0; f < 8; ++f) {
        const auto m = fields[f];
        if (f == 7 && !mimo) {  // not given: untouched
            EXPECT_EQ(got.*m, pre.*m) << "dmimoX written though null";
            continue;
        }
        // Written (dq, dk, dx with qkx Write): the gradient columns were meant to start from
        // zero, dx's padding columns (past H·P) to keep what was there.
        std::vector<float> base = pre.*m;
        if (written && f < 3)
            for (size_t e = 0; e < base.size(); ++e)
                if (f < 2 || int64_t(e) % xStride < d.dInner()) base[e] = 0.0f;
        expectRel(added(got.*m, base), added(ref.*m, pre.*m), tol, names[f]);
        EXPECT_EQ(
            0, std::memcmp((got.*m).data(), (runs[1].*m).data(), (got.*m).size() * sizeof(float)))
            << names[f] << " differs between two runs";
    }
    // dx's padding columns (past H·P in each xStride row) are not the gradient's.
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = d.dInner(); c < xStride; ++c)
            ASSERT_EQ(got.dx[size_t(r * xStride + c)], pre.dx[size_t(r * xStride + c)])
                << "dx padding written, row " << r;
}

void runShapes(const std::vector<Shape>& shapes) {
    for (int round = 0; round < test::rounds(2); ++round)
        for (const Shape& s : shapes) {
            SCOPED_TRACE(s.name);
            runShape(s);
        }
}

TEST(CudaScanBackward, MatchesCpu) {
    runShapes({{"siso T<chunk", 1, 64, 128, 1, 1, 20, 64},
               {"siso 3 chunks", 2, 64, 64, 1, 2, 150, 64},
               {"mimo R2", 3, 32, 64, 2, 3, 50, 16},
               {"mimo R3 odd", 3, 24, 48, 3, 1, 19, 7},
               {"siso P64 N128 chunks", 2, 64, 128, 1, 2, 130, 64},
               {"mimo R4 P64", 2, 64, 64, 4, 1, 70, 32},
               {"siso chunk > replay", 1, 32, 32, 1, 2, 230, 100},
               // Split into 3 groups of rows, the last one partial (N > 64, P 40).
               {"mimo R2 P40 N96 split", 2, 40, 96, 2, 2, 90, 32},
               // The chunked path's own reach: P 40, N 64 / 96, chunks of 64 and 32, batch 3.
               {"siso P40 N64 b3", 3, 40, 64, 1, 3, 200, 64},
               {"siso P40 N96 chunk32", 2, 40, 96, 1, 2, 111, 32},
               {"siso P64 N128 b3", 2, 64, 128, 1, 3, 257, 64},
               // Even x rows: the tensor-core form's dx and x in float2 pairs.
               {"siso P64 N128 even x", 2, 64, 128, 1, 2, 150, 64, 2},
               // bf16 q / k: 16-byte groups (N 128, 64, 96), a short chunk and a short row.
               {"siso P64 N128 bf16 qk", 2, 64, 128, 1, 2, 150, 64, 2, true},
               {"siso P40 N96 chunk32 bf16 qk", 2, 40, 96, 1, 2, 111, 32, 3, true},
               {"siso T<chunk N64 bf16 qk", 3, 64, 64, 1, 1, 20, 64, 3, true}});
}

// Small shapes, few blocks: what compute-sanitizer's racecheck runs (run_gpu_checks.sh).
TEST(CudaScanBackward, SmallMatchesCpu) {
    // Odd N: the chunked path's dq / dk go out element by element, not in float2 pairs.
    runShapes({{"siso ragged", 3, 16, 32, 1, 3, 37, 8},
               {"mimo R4", 2, 8, 16, 4, 2, 29, 5},
               {"siso odd N", 2, 16, 23, 1, 2, 45, 16},
               // Even x rows: dx and x in float2 pairs (the others' odd rows go element-wise).
               {"siso even x", 2, 16, 32, 1, 2, 40, 16, 2},
               // bf16 q / k: element by element (odd N), and in 16-byte groups.
               {"siso odd N bf16 qk", 2, 16, 23, 1, 2, 45, 16, 3, true},
               {"siso bf16 qk", 2, 16, 32, 1, 2, 40, 16, 2, true},
               {"mimo R2 bf16 qk (refused)", 2, 8, 16, 2, 1, 20, 8, 3, true}});
}

// Shapes out of the kernels' reach are refused, nothing launched.
TEST(CudaScanBackward, RefusesUnsupported) {
    ops::Mamba3Dims d;
    d.H = 2, d.P = 64, d.N = 512, d.R = 1;
    EXPECT_EQ(train::cuda::ssm_scan_backward_workspace_floats(d, 1, 16, 8), 0);
    const ops::SsmScanInputs in{};
    EXPECT_EQ(train::cuda::ssm_scan_forward_checkpoint(d, in, 1, 16, 8, nullptr, nullptr, nullptr),
              cudaErrorInvalidValue);
    d.N = 64;
    EXPECT_EQ(train::cuda::ssm_scan_forward_checkpoint(d, in, 1, 16, 0, nullptr, nullptr, nullptr),
              cudaErrorInvalidValue);
    EXPECT_EQ(train::cuda::ssm_scan_backward_recompute(d, in, nullptr, 1, 16, 0, nullptr,
                                                       train::SsmScanGrads{}, nullptr, nullptr),
              cudaErrorInvalidValue);
}

}  // namespace
}  // namespace lectern
