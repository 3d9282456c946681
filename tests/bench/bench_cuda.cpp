// GPU benchmark of the Mamba-3 engine (issue 4's configuration: d_model 2048, 48 layers,
// d_state 128, headdim 64, expand 2, vocab 50280, no MLP, random weights made on the
// device). Measures the device's two ceilings first (device-to-device copy bandwidth; the
// cuBLAS matrix rate of the chosen precision), then prefill tokens/s at 1×16384 and
// 8×2048, decode tokens/s at batch 1 and 16 (CUDA-graph steps), and a long document in
// pieces (time and device memory). Each figure is printed with its FLOP and byte floors
// and the achieved fraction. Usage:
//   bench_cuda [siso|mimo] [bf16|fp32|tf32] [long_tokens (0: skip)] [reps]
// Timings: warm-up first, then the median of `reps` runs (steady clock around calls that
// end in a stream synchronisation; decode includes the logits copy to the host).
#include <cublas_v2.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "cuda/cuda_model.h"

using namespace lectern;

namespace {

double nowS() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// "a,b,,c" -> {"a", "b", "", "c"}
std::vector<std::string> splitOn(const std::string& s, char sep) {
    std::vector<std::string> out;
    for (size_t at = 0;;) {
        const size_t end = s.find(sep, at);
        out.push_back(s.substr(at, end == std::string::npos ? std::string::npos : end - at));
        if (end == std::string::npos) return out;
        at = end + 1;
    }
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Device-to-device copy bandwidth, bytes read + written per second.
double copyBandwidth() {
    const size_t bytes = size_t(2) << 30;
    void *a = nullptr, *b = nullptr;
    if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) return 0;
    cudaMemset(a, 1, bytes);
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    std::vector<double> t;
    for (int i = 0; i < 12; ++i) {
        cudaEventRecord(e0);
        cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
        cudaEventRecord(e1);
        cudaEventSynchronize(e1);
        float ms = 0;
        cudaEventElapsedTime(&ms, e0, e1);
        if (i >= 2) t.push_back(ms * 1e-3);
    }
    cudaFree(a);
    cudaFree(b);
    return 2.0 * double(bytes) / median(t);
}

// The matrix rate of an 8192³ product in the given precision (fp32 output, as ours).
double gemmRate(cuda::Precision p) {
    const int n = 8192;
    float *A = nullptr, *C = nullptr;
    cudaMalloc(&A, size_t(n) * n * 4);
    cudaMalloc(&C, size_t(n) * n * 4);
    cuda::fill_uniform(A, int64_t(n) * n, -1, 1, 7, nullptr);
    void* Ab = nullptr;
    cudaMalloc(&Ab, size_t(n) * n * 2);
    cuda::to_bf16(Ab, A, int64_t(n) * n, nullptr);
    cublasHandle_t h;
    cublasCreate(&h);
    cublasSetMathMode(
        h, p == cuda::Precision::Tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH);
    const float one = 1, zero = 0;
    std::vector<double> t;
    for (int i = 0; i < 8; ++i) {
        cudaDeviceSynchronize();
        const double t0 = nowS();
        if (p == cuda::Precision::Bf16)
            cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &one, Ab, CUDA_R_16BF, n, Ab,
                         CUDA_R_16BF, n, &zero, C, CUDA_R_32F, n, CUBLAS_COMPUTE_32F,
                         CUBLAS_GEMM_DEFAULT);
        else
            cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &one, A, n, A, n, &zero, C, n);
        cudaDeviceSynchronize();
        if (i >= 2) t.push_back(nowS() - t0);
    }
    cublasDestroy(h);
    cudaFree(A);
    cudaFree(C);
    cudaFree(Ab);
    return 2.0 * double(n) * n * n / median(t);
}

struct Floors {
    double gemmFlopsPerToken, scanFlopsPerToken, weightBytes, stateBytesPerDoc;
};

Floors floorsFor(const model::ModelConfig& c, cuda::Precision p) {
    const ops::Mamba3Dims d = c.dims();
    const double D = c.dModel, L = c.nLayer, V = c.vocabPadded();
    const double perLayer = d.dInProj() * D + D * d.dInner();
    const double wb = p == cuda::Precision::Bf16 ? 2.0 : 4.0;
    // Recurrent form per token and head: state update 2·R·P·N MACs, output R·P·N MACs.
    const double scan = L * d.H * 6.0 * d.R * d.P * d.N;
    return {2.0 * L * perLayer, scan, wb * (L * perLayer + V * D),
            4.0 * L *
                (double(d.H) * d.A + double(d.H) * d.P * d.N + double(d.R) * d.H * d.N +
                 double(d.H) * d.P)};
}

// The decode GEMVs alone (issue 4: at batch 1 the weights are the bytes): weight bytes read
// per second by gemv_bf16_forward and by the fused path's norm-prologue GEMV on [rows, cols]
// bf16 matrices, one activation row; CUDA events around 240 launches that rotate over
// enough copies of the matrix to exceed the L2 four times over (one matrix launched again
// and again stays in the 50 MB L2 and overstated the streaming rate, NOTES-gpu.md).
void gemvBandwidth(int64_t rows, int64_t cols) {
    int dev = 0, l2 = 50 << 20;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev);
    const size_t bytes16 = size_t(rows * cols) * 2;
    const int copies = int(std::max<size_t>(2, (4 * size_t(l2)) / bytes16 + 1));
    float *w32 = nullptr, *x = nullptr, *y = nullptr, *nw = nullptr;
    std::vector<void*> w16(static_cast<size_t>(copies), nullptr);
    bool ok = cudaMalloc(&w32, size_t(rows * cols) * 4) == cudaSuccess &&
              cudaMalloc(&x, size_t(cols) * 4) == cudaSuccess &&
              cudaMalloc(&nw, size_t(cols) * 4) == cudaSuccess &&
              cudaMalloc(&y, size_t(rows) * 4) == cudaSuccess;
    for (void*& w : w16) ok = ok && cudaMalloc(&w, bytes16) == cudaSuccess;
    if (!ok) {
        std::printf("GEMV [%lld x %lld]: out of device memory\n", (long long)rows, (long long)cols);
        return;
    }
    cuda::fill_uniform(w32, rows * cols, -0.05f, 0.05f, 7, nullptr);
    cuda::fill_uniform(x, cols, -1.0f, 1.0f, 8, nullptr);
    cuda::fill_uniform(nw, cols, 0.8f, 1.2f, 9, nullptr);
    std::vector<cuda::DeviceMatrix> W(static_cast<size_t>(copies));
    for (int c = 0; c < copies; ++c) {
        cuda::to_bf16(w16[size_t(c)], w32, rows * cols, nullptr);
        W[size_t(c)].bf16 = w16[size_t(c)];
        W[size_t(c)].rows = rows;
        W[size_t(c)].cols = cols;
    }
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    constexpr int kLaunches = 240;
    for (int variant = 0; variant < 2; ++variant) {
        float ms = 0;
        for (int pass = 0; pass < 2; ++pass) {  // the first is the warm-up
            cudaEventRecord(e0);
            for (int i = 0; i < kLaunches; ++i) {
                const cuda::DeviceMatrix& m = W[size_t(i % copies)];
                if (variant == 0)
                    cuda::gemv_bf16_forward(y, x, cols, m, 1, nullptr);
                else
                    cuda::decode_norm_gemv_forward(y, x, cols, nw, 1e-5f, m, 1, nullptr);
            }
            cudaEventRecord(e1);
            cudaEventSynchronize(e1);
            cudaEventElapsedTime(&ms, e0, e1);
        }
        const double sec = ms * 1e-3 / kLaunches;
        std::printf(
            "GEMV %s [%lld x %lld] bf16, 1 row, %d copies (> L2): %.2f us, %.3f TB/s of weights\n",
            variant == 0 ? "gemv_bf16_forward      " : "decode_norm_gemv_forward", (long long)rows,
            (long long)cols, copies, sec * 1e6, double(rows * cols * 2) / sec / 1e12);
    }
    cudaFree(w32);
    for (void* w : w16) cudaFree(w);
    cudaFree(x);
    cudaFree(nw);
    cudaFree(y);
}

// Median seconds of a decode step at batch B (10 warm-up steps, then 100). copyLogits:
// the graph copies the logits to the host (as bench_cuda always measured); without, they
// stay on the device, as a resident session that samples there.
double decodeSeconds(cuda::CudaModel& m, int B, bool copyLogits, int64_t V) {
    auto st = m.newStates(B);
    if (!st) {
        std::printf("error: %s\n", st.error().c_str());
        return -1;
    }
    std::vector<int32_t> ids(size_t(B), 17);
    std::vector<float> logits(size_t(B * V));
    std::vector<double> t;
    for (int r = 0; r < 110; ++r) {
        const double t0 = nowS();
        Status s = m.decodeStep(*st, ids.data(), copyLogits ? logits.data() : nullptr);
        if (!s) {
            std::printf("error: %s\n", s.message().c_str());
            return -1;
        }
        if (r >= 10) t.push_back(nowS() - t0);
    }
    m.forgetStates(*st);  // the next states may get this address: no stale graph then
    return median(t);
}

void report(const char* what, double tokPerS, double floorS, double actualS, const char* bound) {
    std::printf("%-34s %12.0f tok/s   floor %9.3f ms (%s)   measured %9.3f ms   %5.1f%% of floor\n",
                what, tokPerS, floorS * 1e3, bound, actualS * 1e3, 100.0 * floorS / actualS);
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // lines survive a timeout kill
    const std::string mode = argc > 1 ? argv[1] : "siso";
    const std::string prec = argc > 2 ? argv[2] : "bf16";
    const int64_t longTokens = argc > 3 ? std::atoll(argv[3]) : 0;
    const int reps = argc > 4 ? std::atoi(argv[4]) : 5;
    auto dev = cuda::probeDevice(0);
    if (!dev) {
        std::printf("SKIPPED: no CUDA device (%s)\n", dev.error().c_str());
        return 77;
    }
    model::ModelConfig cfg;
    cfg.dModel = 2048;
    cfg.nLayer = 48;
    cfg.vocabSize = 50280;
    cfg.ssm.dState = 128;
    cfg.ssm.headdim = 64;
    cfg.ssm.expand = 2;
    cfg.ssm.isMimo = mode == "mimo";
    cfg.ssm.mimoRank = 4;
    cfg.ssm.chunkSize = cfg.ssm.isMimo ? 16 : 64;
    const cuda::Precision p = prec == "fp32"   ? cuda::Precision::Fp32
                              : prec == "tf32" ? cuda::Precision::Tf32
                                               : cuda::Precision::Bf16;
    std::printf("device %s (%d SMs, %zu MiB); model %s, precision %s\n", dev->name.c_str(),
                dev->multiprocessors, dev->totalBytes >> 20, cfg.ssm.isMimo ? "MIMO r4" : "SISO",
                prec.c_str());
    const double bw = copyBandwidth(), rate = gemmRate(p);
    std::printf("ceilings: copy %.3f TB/s (read+write), %s GEMM %.1f TFLOP/s (8192^3)\n", bw / 1e12,
                prec.c_str(), rate / 1e12);
    cuda::CudaOptions opt;
    opt.precision = p;
    opt.maxRows = 16384;
    auto m = cuda::CudaModel::createRandom(cfg, 1234, opt);
    if (!m) {
        std::printf("error: %s\n", m.error().c_str());
        return 1;
    }
    const Floors f = floorsFor(cfg, p);
    std::printf("parameters on device: %.2f GB (fp32 + %s copies); floors use %.2f GB of weights\n",
                double((*m)->weightBytes()) / 1e9, prec.c_str(), f.weightBytes / 1e9);
    const int64_t V = cfg.vocabPadded();
    // LECTERN_BENCH_DECODE_ONLY: skip prefill (device time is scarce); then the GEMVs alone.
    const bool decodeOnly = std::getenv("LECTERN_BENCH_DECODE_ONLY") != nullptr;
    // LECTERN_BENCH_PREFILL_ONLY: skip the decode measurements (prefill A/B runs).
    const bool prefillOnly = std::getenv("LECTERN_BENCH_PREFILL_ONLY") != nullptr;
    if (p == cuda::Precision::Bf16) {
        gemvBandwidth(cfg.dims().dInProj(), cfg.dModel);  // in_proj
        gemvBandwidth(cfg.dModel, cfg.dims().dInner());   // out_proj
    }
    for (auto [B, T] : {std::pair<int, int64_t>{1, 16384}, {8, 2048}}) {
        if (decodeOnly) break;
        auto st = (*m)->newStates(B);
        if (!st) return std::printf("error: %s\n", st.error().c_str()), 1;
        std::vector<int32_t> ids(size_t(B * T));
        for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * 7919) % 50280);
        std::vector<float> last(size_t(B * V));
        std::vector<double> t;
        for (int r = 0; r < reps + 1; ++r) {
            const double t0 = nowS();
            Status s = (*m)->forward(*st, ids.data(), T, ScanForm::Chunked, last.data(), nullptr);
            if (!s) return std::printf("error: %s\n", s.message().c_str()), 1;
            if (r > 0) t.push_back(nowS() - t0);
        }
        const double sec = median(t), toks = double(B * T);
        const double flopFloor = toks * f.gemmFlopsPerToken / rate;
        const double byteFloor = (f.weightBytes + toks * 8.0) / bw;
        char what[64];
        std::snprintf(what, sizeof what, "prefill %dx%lld", B, (long long)T);
        report(what, toks / sec, std::max(flopFloor, byteFloor), sec,
               flopFloor > byteFloor ? "FLOP" : "byte");
    }
    for (int B : {1, 16}) {
        if (prefillOnly) break;
        const double sec = decodeSeconds(**m, B, true, V);
        if (sec <= 0) return 1;
        const double byteFloor = (f.weightBytes + 2.0 * B * f.stateBytesPerDoc) / bw;
        const double flopFloor = B * (f.gemmFlopsPerToken + 2.0 * V * cfg.dModel) / rate;
        char what[64];
        std::snprintf(what, sizeof what, "decode batch %d (graph)", B);
        report(what, B / sec, std::max(byteFloor, flopFloor), sec,
               byteFloor > flopFloor ? "byte" : "FLOP");
    }
    if (!prefillOnly) {
        // Batch 1 with the logits left on the device (a session sampling there).
        const double byteFloor = (f.weightBytes + 2.0 * f.stateBytesPerDoc) / bw;
        const double sec = decodeSeconds(**m, 1, false, V);
        if (sec <= 0) return 1;
        report("decode batch 1 (graph, logits stay)", 1 / sec, byteFloor, sec, "byte");
        // LECTERN_BENCH_DECODE_GRID="batch:pdl:bulk:compact,...": the same step captured with
        // each launch choice (LECTERN_DECODE_PDL, _GEMV_BULK, _MIXER_COMPACT; an empty field
        // leaves the default), same run, same weights, logits left on the device.
        if (const char* grid = std::getenv("LECTERN_BENCH_DECODE_GRID")) {
            const char* names[3] = {"LECTERN_DECODE_PDL", "LECTERN_DECODE_GEMV_BULK",
                                    "LECTERN_DECODE_MIXER_COMPACT"};
            for (const std::string& item : splitOn(grid, ',')) {
                const std::vector<std::string> fld = splitOn(item, ':');
                const int gb = fld.empty() ? 0 : std::atoi(fld[0].c_str());
                if (gb < 1) continue;
                for (int i = 0; i < 3; ++i) {
                    if (size_t(i) + 1 < fld.size() && !fld[size_t(i) + 1].empty())
                        setenv(names[i], fld[size_t(i) + 1].c_str(), 1);
                    else
                        unsetenv(names[i]);
                }
                const cuda::DecodeLaunch how = cuda::decode_launch_options(gb, gb <= 4);
                const double s0 = decodeSeconds(**m, gb, false, V);
                if (s0 <= 0) return 1;
                char what[80];
                std::snprintf(what, sizeof what, "b%d stay, pdl %d bulk %d compact mixer %d", gb,
                              int(how.pdl), int(how.gemvBulk), int(how.compactMixer));
                report(what, gb / s0, (f.weightBytes + 2.0 * gb * f.stateBytesPerDoc) / bw, s0,
                       "byte");
            }
            for (const char* n : names) unsetenv(n);
        }
    }
    // LECTERN_BENCH_UNFUSED: the same decode steps through the op-by-op path (the "before"
    // of the fused step, same run), on a second model with the same random weights.
    if (std::getenv("LECTERN_BENCH_UNFUSED")) {
        cuda::CudaOptions uo = opt;
        uo.fusedDecode = false;
        auto u = cuda::CudaModel::createRandom(cfg, 1234, uo);
        if (!u) return std::printf("error: %s\n", u.error().c_str()), 1;
        for (int B : {1, 16}) {
            const double sec = decodeSeconds(**u, B, true, V);
            if (sec <= 0) return 1;
            const double byteFloor = (f.weightBytes + 2.0 * B * f.stateBytesPerDoc) / bw;
            char what[64];
            std::snprintf(what, sizeof what, "decode batch %d op-by-op (graph)", B);
            report(what, B / sec, byteFloor, sec, "byte");
        }
    }
    if (std::getenv("LECTERN_CUDA_PROFILE")) {  // per-op wall time (synchronised per op)
        auto st = (*m)->newStates(1);
        std::vector<int32_t> ids(16384, 11);
        std::map<std::string, double> prof;
        (*m)->setProfile(&prof);
        Status s = (*m)->forward(*st, ids.data(), 16384, ScanForm::Chunked, nullptr, nullptr);
        std::printf("profile, prefill 1x16384 (%s):\n", s ? "ok" : s.message().c_str());
        for (const auto& [op, sec] : prof) std::printf("  %-22s %9.3f ms\n", op.c_str(), sec * 1e3);
        prof.clear();
        for (int i = 0; i < 20; ++i)
            s = (*m)->forward(*st, ids.data(), 1, ScanForm::Recurrent, nullptr, nullptr);
        std::printf("profile, decode batch 1 without graph, per step:\n");
        for (const auto& [op, sec] : prof) std::printf("  %-22s %9.3f ms\n", op.c_str(), sec * 50);
        (*m)->setProfile(nullptr);
    }
    if (longTokens > 0) {
        auto st = (*m)->newStates(1);
        std::vector<int32_t> ids(static_cast<size_t>(longTokens));
        for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * 104729) % 50280);
        size_t free0 = 0, total = 0;
        cudaMemGetInfo(&free0, &total);
        const double t0 = nowS();
        Status s = (*m)->forward(*st, ids.data(), longTokens, ScanForm::Chunked, nullptr, nullptr);
        const double sec = nowS() - t0;
        size_t free1 = 0;
        cudaMemGetInfo(&free1, &total);
        if (!s) return std::printf("error: %s\n", s.message().c_str()), 1;
        std::printf(
            "long document %lld tokens: %.2f s (%.0f tok/s), device memory in use %.2f GB "
            "before and %.2f GB after (pieces of %lld rows)\n",
            (long long)longTokens, sec, double(longTokens) / sec, double(total - free0) / 1e9,
            double(total - free1) / 1e9, (long long)opt.maxRows);
    }
    return 0;
}
