// CPU engine benchmark: prefill and decode tokens/s for the golden configurations and a
// ~25M-parameter configuration (random weights), the state size per document, and the
// memory-bandwidth floor for decode (every weight and the whole state are streamed once
// per decoded token; the floor is those bytes over the measured read bandwidth).
// Usage: bench_engine_cpu [--prefill N] [--decode N] [--only NAME] [--golden DIR]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "lectern/engine.h"
#include "random_model.h"

namespace {

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Read bandwidth of this machine: sum a buffer far larger than the caches as integers
// (integer sums vectorise without -ffast-math, so the loop is memory-bound), best of 5.
__attribute__((optimize("O3"))) uint32_t sumWords(const uint32_t* p, size_t n) {
    uint32_t s = 0;
#pragma omp parallel for reduction(+ : s)
    for (size_t i = 0; i < n; ++i) s += p[i];
    return s;
}

double measureReadBandwidth() {
    const size_t n = size_t(64) << 20;  // 256 MiB
    std::vector<uint32_t> buf(n, 1u);
    double best = 0.0;
    volatile uint32_t sink = 0;
    for (int rep = 0; rep < 5; ++rep) {
        const auto t0 = Clock::now();
        sink = sumWords(buf.data(), n);
        best = std::max(best, double(n * sizeof(uint32_t)) / secondsSince(t0));
    }
    (void)sink;
    return best;
}

struct Result {
    std::string name;
    lectern::ModelInfo info;
    double prefillTps = 0, decodeTps = 0, floorTps = 0, decodeGBs = 0;
};

Result benchModel(const std::string& name, const lectern::Model& model, int prefillN, int decodeN,
                  double bandwidth) {
    Result r{name, model.info()};
    std::mt19937 rng(1);
    std::vector<int32_t> toks(static_cast<size_t>(prefillN));
    for (int32_t& t : toks) t = int32_t(rng() % uint32_t(r.info.vocabSize));
    double best = 1e30;
    for (int rep = 0; rep < 3; ++rep) {
        lectern::Session s = model.newSession();
        const auto t0 = Clock::now();
        if (!s.prefill(toks)) return r;
        best = std::min(best, secondsSince(t0));
    }
    r.prefillTps = prefillN / best;
    lectern::Session s = model.newSession();
    (void)s.prefill(std::span(toks).first(64));
    (void)s.step(1);  // warm the scratch buffers
    const auto t0 = Clock::now();
    for (int i = 0; i < decodeN; ++i) (void)s.step(toks[size_t(i) % toks.size()]);
    r.decodeTps = decodeN / secondsSince(t0);
    // Bytes per decoded token: every fp32 weight once (an untied input embedding only
    // contributes one row, so it is left out), the state read and written once.
    const double embed = r.info.tiedEmbeddings ? 0.0 : double(r.info.vocabPadded) * r.info.dModel;
    const double bytes =
        (double(r.info.parameterCount) - embed) * 4.0 + 2.0 * double(r.info.stateBytes);
    r.floorTps = bandwidth / bytes;
    r.decodeGBs = r.decodeTps * bytes / 1e9;
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    int prefillN = 4096, decodeN = 256;
    std::string only, golden = LECTERN_GOLDEN_DIR;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--prefill")) prefillN = std::max(1, std::atoi(argv[i + 1]));
        if (!std::strcmp(argv[i], "--decode")) decodeN = std::max(1, std::atoi(argv[i + 1]));
        if (!std::strcmp(argv[i], "--only")) only = argv[i + 1];
        if (!std::strcmp(argv[i], "--golden")) golden = argv[i + 1];
    }
    const double bw = measureReadBandwidth();
    std::printf("read bandwidth: %.2f GB/s\n", bw / 1e9);
    std::vector<Result> results;
    for (const char* name : {"siso_tiny", "siso_mlp_norm", "mimo_tiny", "mimo_norm"}) {
        if (!only.empty() && only != name) continue;
        auto m = lectern::Model::load(golden + "/" + name);
        if (!m) {
            std::printf("%s: skipped (%s)\n", name, m.error().c_str());
            continue;
        }
        results.push_back(benchModel(name, *m, prefillN, decodeN, bw));
    }
    if (only.empty() || only == "25M") {
        lectern::test::RandomModelSpec spec;
        spec.dModel = 384;
        spec.nLayer = 8;
        spec.dState = 64;
        spec.headdim = 32;
        spec.vocab = 8192;
        spec.dIntermediate = 1152;
        spec.chunk = 64;
        spec.tied = false;
        const std::string dir = lectern::test::makeTempDir("lectern-bench");
        if (lectern::test::writeRandomModel(dir, spec, 42)) {
            auto m = lectern::Model::load(dir);
            if (m)
                results.push_back(
                    benchModel("25M (" + spec.describe() + ")", *m, prefillN, decodeN, bw));
        }
        std::filesystem::remove_all(dir);
    }
    std::printf(
        "\n| model | params | state bytes | prefill tok/s (%d) | decode tok/s | decode GB/s "
        "| decode floor tok/s |\n",
        prefillN);
    std::printf("|---|---|---|---|---|---|---|\n");
    for (const Result& r : results) {
        std::printf("| %s | %.2f M | %lld | %.0f | %.0f | %.1f | %.0f |\n", r.name.c_str(),
                    double(r.info.parameterCount) / 1e6, (long long)r.info.stateBytes, r.prefillTps,
                    r.decodeTps, r.decodeGBs, r.floorTps);
    }
    return 0;
}
