// GPU benchmark of the training scan (training/cuda/scan_backward_cuda.h): the forward with
// checkpoints and the recomputing backward, SISO, chunk 64, random inputs made on the
// device, for issue 5's benchmark shape (d_state 128, headdim 64, 24 heads, 8 × 4096
// tokens) and the bundled model's (d_state 64, headdim 64, 8 heads, 32 × 1024). Each time
// is the median of `reps` runs after two warm-ups (CUDA events), printed with its byte floor:
// what must be read and written once (inputs, outputs, checkpoints; the gradients are +=,
// so read and written) at the measured device-to-device copy bandwidth. Also printed: the
// backward's replay traffic through its workspace (states written and read back), which
// the floor leaves out. The backward runs on both paths (ScanBackwardPath): the chunked
// matrix form (fp32, then on the tensor cores: the default TF32 form with fp32 tiles, the same
// writing dq/dk/dx instead of adding to them, and that reading q/k in bf16) and the sequential
// token loop. Usage:
// bench_scan_backward [reps] (default 10).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cuda/cuda_ops.h"
#include "training/cuda/scan_backward_cuda.h"

using namespace lectern;

namespace {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

struct Timer {
    cudaEvent_t e0{}, e1{};
    Timer() {
        cudaEventCreate(&e0);
        cudaEventCreate(&e1);
    }
    ~Timer() {
        cudaEventDestroy(e0);
        cudaEventDestroy(e1);
    }
    template <class F>
    double ms(F&& f) {
        cudaEventRecord(e0);
        f();
        cudaEventRecord(e1);
        cudaEventSynchronize(e1);
        float v = 0;
        cudaEventElapsedTime(&v, e0, e1);
        return v;
    }
};

// Device-to-device copy bandwidth, bytes read + written per second.
double copyBandwidth() {
    const size_t bytes = size_t(1) << 30;
    void *a = nullptr, *b = nullptr;
    if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) return 0;
    cudaMemset(a, 1, bytes);
    Timer tm;
    std::vector<double> t;
    for (int i = 0; i < 12; ++i) {
        const double ms = tm.ms([&] { cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice); });
        if (i >= 2) t.push_back(ms * 1e-3);
    }
    cudaFree(a);
    cudaFree(b);
    return 2.0 * double(bytes) / median(t);
}

float* devAlloc(size_t n, std::vector<float*>& all) {
    float* p = nullptr;
    if (cudaMalloc(&p, n * sizeof(float)) != cudaSuccess) {
        std::fprintf(stderr, "cudaMalloc of %zu floats failed\n", n);
        std::exit(1);
    }
    all.push_back(p);
    return p;
}

float* devRandom(size_t n, float lo, float hi, uint64_t seed, std::vector<float*>& all) {
    float* p = devAlloc(n, all);
    cuda::fill_uniform(p, int64_t(n), lo, hi, seed, nullptr);
    return p;
}

struct Shape {
    const char* name;
    int H, P, N;
    int64_t batch, T;
};

bool runShape(const Shape& s, int reps, double bw) {
    ops::Mamba3Dims d;
    d.H = s.H, d.P = s.P, d.N = s.N, d.R = 1;
    const int64_t chunk = 64, rows = s.batch * s.T, qk = int64_t(d.N) * d.H, xs = d.dInner();
    const int64_t nChk = (s.T + chunk - 1) / chunk;
    const int64_t startsF = s.batch * nChk * d.H * d.P * d.N;
    std::vector<float*> all;
    uint64_t seed = 1;
    const ops::SsmScanInputs in{devRandom(size_t(rows * qk), -1, 1, seed++, all),
                                devRandom(size_t(rows * qk), -1, 1, seed++, all),
                                devRandom(size_t(rows * xs), -1, 1, seed++, all),
                                xs,
                                devRandom(size_t(rows * d.H), -0.6f, -0.001f, seed++, all),
                                devRandom(size_t(rows * d.H), 0.001f, 0.5f, seed++, all),
                                devRandom(size_t(rows * d.H), 0.05f, 0.95f, seed++, all),
                                devRandom(size_t(d.H), 0.5f, 1.5f, seed++, all),
                                nullptr};
    float* y = devAlloc(size_t(rows * xs), all);
    float* starts = devAlloc(size_t(startsF), all);
    float* dy = devRandom(size_t(rows * xs), -1, 1, seed++, all);
    const train::SsmScanGrads g{devRandom(size_t(rows * qk), -1, 1, seed++, all),
                                devRandom(size_t(rows * qk), -1, 1, seed++, all),
                                devRandom(size_t(rows * xs), -1, 1, seed++, all),
                                devRandom(size_t(rows * d.H), -1, 1, seed++, all),
                                devRandom(size_t(rows * d.H), -1, 1, seed++, all),
                                devRandom(size_t(rows * d.H), -1, 1, seed++, all),
                                devRandom(size_t(d.H), -1, 1, seed++, all),
                                nullptr};
    using Path = train::cuda::ScanBackwardPath;
    const int64_t wsF = std::max(
        train::cuda::ssm_scan_backward_workspace_floats(d, s.batch, s.T, chunk, Path::Chunked),
        train::cuda::ssm_scan_backward_workspace_floats(d, s.batch, s.T, chunk, Path::Sequential));
    float* ws = devAlloc(size_t(wsF), all);
    Path path = Path::Chunked;
    bool tf32 = false;
    train::cuda::ScanQkxGrads qkx = train::cuda::ScanQkxGrads::Add;
    // q then k in bf16 (the bf16 step's form of them), for the TF32 form's bf16-q/k runs.
    float* qkB = devAlloc(size_t(rows * qk), all);
    cuda::to_bf16(qkB, in.q, rows * qk, nullptr);
    cuda::to_bf16(reinterpret_cast<uint16_t*>(qkB) + rows * qk, in.k, rows * qk, nullptr);
    const void* qkArg = nullptr;
    cudaError_t err = cudaSuccess;
    auto fwd = [&] {
        const cudaError_t e = train::cuda::ssm_scan_forward_checkpoint(d, in, s.batch, s.T, chunk,
                                                                       y, starts, nullptr);
        if (e != cudaSuccess) err = e;
    };
    auto bwd = [&] {
        const cudaError_t e = train::cuda::ssm_scan_backward_recompute(
            d, in, starts, s.batch, s.T, chunk, dy, g, ws, nullptr, path, tf32, qkx, qkArg);
        if (e != cudaSuccess) err = e;
    };
    Timer tm;
    std::vector<double> tf, tb, ts, tt, tw, twb;
    for (int i = 0; i < reps + 2; ++i) {
        const double a = tm.ms(fwd), b = tm.ms(bwd);
        if (i >= 2) tf.push_back(a), tb.push_back(b);
    }
    tf32 = true;  // the chunked path's tensor-core products
    for (int i = 0; i < reps + 1; ++i) {
        const double b = tm.ms(bwd);
        if (i >= 1) tt.push_back(b);
    }
    qkx = train::cuda::ScanQkxGrads::Write;  // dq, dk, dx written, not added (the step's form)
    for (int i = 0; i < reps + 1; ++i) {
        const double b = tm.ms(bwd);
        if (i >= 1) tw.push_back(b);
    }
    qkArg = qkB;  // the same, q and k read in bf16 (the bf16 training step's form)
    for (int i = 0; i < reps + 1; ++i) {
        const double b = tm.ms(bwd);
        if (i >= 1) twb.push_back(b);
    }
    qkArg = nullptr;
    qkx = train::cuda::ScanQkxGrads::Add;
    tf32 = false;
    path = Path::Sequential;
    for (int i = 0; i < std::max(1, reps / 2) + 1; ++i) {
        const double b = tm.ms(bwd);
        if (i >= 1) ts.push_back(b);
    }
    if (err == cudaSuccess) err = cudaDeviceSynchronize();
    for (float* p : all) cudaFree(p);
    if (err != cudaSuccess) {
        std::printf("%s: CUDA error %s\n", s.name, cudaGetErrorString(err));
        return false;
    }
    // Floats per (token, head): inputs q, k (N each), x (P), adt/dt/trap; y (P); the
    // checkpoints (P·N per chunk). The backward reads q, k, x, dy, the scalars and the
    // checkpoints, and reads + writes dq, dk, dx and the three scalar gradients.
    const double th = double(rows) * d.H, PN = double(d.P) * d.N;
    const double fwdB = 4.0 * th * (2.0 * d.N + d.P + 3 + d.P + PN / chunk);
    const double bwdB =
        4.0 * th * (2.0 * d.N + 2.0 * d.P + 3 + PN / chunk + 2 * (2.0 * d.N + d.P + 3));
    // The replay: every state written once and read twice (h_t, then as h_{t−1}) by the
    // sub-chunk pass, plus the sub-chunk entry states.
    const double replayB = 4.0 * th * PN * (3.0 + 2.0 / 8);
    const double mf = median(tf), mb = median(tb);
    std::printf(
        "%-9s H=%d P=%d N=%d batch=%lld T=%lld chunk=%lld\n"
        "  forward  %8.3f ms  (floor %.3f ms: %.0f MB; %.1f%% of copy bandwidth)\n"
        "  backward %8.3f ms chunked  (floor %.3f ms: %.0f MB; %.1f%%)\n"
        "  backward %8.3f ms chunked, tensor cores (default: tf32 on fp32 tiles)\n"
        "  backward %8.3f ms chunked, tensor cores, dq/dk/dx written (ScanQkxGrads::Write)\n"
        "  backward %8.3f ms chunked, tensor cores, written, q/k read in bf16 (the bf16 step)\n"
        "  backward %8.3f ms sequential  (+ replay states %.0f MB = %.3f ms at copy bandwidth)\n"
        "  tokens/s forward+backward (chunked) %.3g\n",
        s.name, d.H, d.P, d.N, (long long)s.batch, (long long)s.T, (long long)chunk, mf,
        1e3 * fwdB / bw, fwdB / 1e6, 100.0 * (fwdB / bw) / (mf * 1e-3), mb, 1e3 * bwdB / bw,
        bwdB / 1e6, 100.0 * (bwdB / bw) / (mb * 1e-3), median(tt), median(tw), median(twb),
        median(ts), replayB / 1e6, 1e3 * replayB / bw, double(rows) / ((mf + mb) * 1e-3));
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 10;
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) {
        std::printf("SKIPPED: no CUDA device\n");
        return 77;
    }
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, dev);
    const double bw = copyBandwidth();
    std::printf("%s, %d SMs; copy bandwidth %.0f GB/s; median of %d runs\n", prop.name,
                prop.multiProcessorCount, bw / 1e9, reps);
    const Shape shapes[] = {{"benchmark", 24, 64, 128, 8, 4096}, {"bundled", 8, 64, 64, 32, 1024}};
    bool ok = true;
    for (const Shape& s : shapes) ok = runShape(s, reps, bw) && ok;
    return ok ? 0 : 1;
}
