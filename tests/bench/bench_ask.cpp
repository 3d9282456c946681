// Time to the first answer token of a follow-up question, by document length, three ways
// (issue 7's figures): the document's state resident (fork it), restored from a state file
// (read, checked, loaded), and a full re-read (prefill document + question from nothing),
// which is what every tool without a persistent state pays. Engine only (no Qt, no SQLite),
// so it runs on the GPU machine too. Random weights: the numbers are speed, not answers.
//
//   bench_ask [--device cpu|cuda|auto] [--preset cpu|gpu] [--model DIR]
//             [--lengths 1024,16384] [--runs 5] [--reread-runs N] [--reread-max-tokens N]
//             [--json FILE] [--work-dir DIR] [--precision bf16|fp32] [--decode-steps N]
//
// "first token" = the question's prefill plus picking the first answer token (argmax of the
// logits, which on the GPU includes copying them to the host). Each figure is the median of
// --runs runs after one warm-up; the re-read is repeated --reread-runs times up to
// --reread-max-tokens and run once above (the prefill that builds the state is that run).
// Then decode speed: --decode-steps Session::step calls (median step time, after 5 warm-up
// steps) with the logits left where the backend keeps them. --precision: the GPU's
// (LoadOptions::gpuPrecision; bf16 is the default of Model::load).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "io/state_file.h"
#include "lectern/engine.h"
#include "random_model.h"

using namespace lectern;

namespace {

struct Args {
    std::string device = "cpu", preset = "cpu", model, json, workDir;
    std::vector<int64_t> lengths = {1024, 16384};
    int runs = 5, rereadRuns = 3;
    int64_t rereadMaxTokens = 16384;
    std::string precision = "bf16";
    int decodeSteps = 50;
};

double nowMs() {
    using namespace std::chrono;
    return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The preset models. cpu: the bundled model's likely size (byte vocabulary, H5's training
// target). gpu: the benchmark configuration of issue 4 (NOTES-gpu.md).
test::RandomModelSpec presetSpec(const std::string& name) {
    test::RandomModelSpec s;
    s.vocab = 256;
    s.dModel = 512;
    s.nLayer = 8;
    s.dState = 64;
    s.headdim = 64;
    s.chunk = 64;
    if (name == "gpu") {
        s.dModel = 2048;
        s.nLayer = 48;
        s.dState = 128;
        s.vocab = 50280;
    }
    return s;
}

int32_t argmax(std::span<const float> logits, int vocab) {
    return int32_t(std::max_element(logits.begin(), logits.begin() + vocab) - logits.begin());
}

std::vector<int32_t> textIds(const std::string& s) {
    std::vector<int32_t> ids;
    for (unsigned char c : s) ids.push_back(int32_t(c));
    return ids;
}

struct LengthResult {
    int64_t tokens = 0;
    std::vector<double> resident, restored, restoredLoad, reread;
    double buildMs = 0.0;
    int64_t stateFileBytes = 0;
};

std::string jsonList(const std::vector<double>& v) {
    std::ostringstream o;
    o << "[";
    for (size_t i = 0; i < v.size(); ++i) o << (i ? ", " : "") << v[i];
    o << "]";
    return o.str();
}

bool parseArgs(int argc, char** argv, Args& a) {
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        if (i + 1 >= argc) return false;
        const std::string v = argv[++i];
        if (k == "--device")
            a.device = v;
        else if (k == "--preset")
            a.preset = v;
        else if (k == "--model")
            a.model = v;
        else if (k == "--json")
            a.json = v;
        else if (k == "--work-dir")
            a.workDir = v;
        else if (k == "--precision")
            a.precision = v;
        else if (k == "--decode-steps")
            a.decodeSteps = std::max(1, std::atoi(v.c_str()));
        else if (k == "--runs")
            a.runs = std::max(1, std::atoi(v.c_str()));
        else if (k == "--reread-runs")
            a.rereadRuns = std::max(1, std::atoi(v.c_str()));
        else if (k == "--reread-max-tokens")
            a.rereadMaxTokens = std::atoll(v.c_str());
        else if (k == "--lengths") {
            a.lengths.clear();
            std::stringstream ss(v);
            for (std::string p; std::getline(ss, p, ',');)
                a.lengths.push_back(std::atoll(p.c_str()));
        } else
            return false;
    }
    return !a.lengths.empty();
}

// Reads `doc` once (the build, itself the first re-read run), saves the state, then times
// the three ways of answering a question after it.
Expected<LengthResult> measure(const Model& model, const Args& a, const std::vector<int32_t>& doc,
                               const std::vector<int32_t>& question, const std::string& file) {
    const int vocab = model.info().vocabSize;
    LengthResult r;
    r.tokens = int64_t(doc.size());
    Session base = model.newSession();
    double t0 = nowMs();
    if (Status s = base.prefill(doc); !s) return s;
    r.buildMs = nowMs() - t0;
    {
        Session q = base.fork();
        if (Status s = q.prefill(question); !s) return s;
        (void)argmax(q.lastLogits(), vocab);
        r.reread.push_back(nowMs() - t0);
    }
    if (Status s = io::stateSave(file, model, base); !s) return s;
    r.stateFileBytes = int64_t(std::filesystem::file_size(file));
    for (int i = 0; i <= a.runs; ++i) {  // run 0 is the warm-up
        double s0 = nowMs();
        Session f = base.fork();
        if (Status s = f.prefill(question); !s) return s;
        (void)argmax(f.lastLogits(), vocab);
        const double resident = nowMs() - s0;
        s0 = nowMs();
        Session g = model.newSession();
        if (Status s = io::stateLoad(file, model, g); !s) return s;
        const double load = nowMs() - s0;
        if (Status s = g.prefill(question); !s) return s;
        (void)argmax(g.lastLogits(), vocab);
        const double restored = nowMs() - s0;
        if (i == 0) continue;
        r.resident.push_back(resident);
        r.restored.push_back(restored);
        r.restoredLoad.push_back(load);
    }
    const int more = r.tokens <= a.rereadMaxTokens ? a.rereadRuns - 1 : 0;
    for (int i = 0; i < more; ++i) {
        const double s0 = nowMs();
        Session s = model.newSession();
        if (Status e = s.prefill(doc); !e) return e;
        if (Status e = s.prefill(question); !e) return e;
        (void)argmax(s.lastLogits(), vocab);
        r.reread.push_back(nowMs() - s0);
    }
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    if (!parseArgs(argc, argv, a)) {
        std::fprintf(
            stderr,
            "usage: bench_ask [--device cpu|cuda|auto] [--preset cpu|gpu] [--model DIR] "
            "[--lengths 1024,16384] [--runs N] [--reread-runs N] "
            "[--reread-max-tokens N] [--json FILE] [--work-dir DIR] [--precision bf16|fp32] "
            "[--decode-steps N]\n");
        return 2;
    }
    namespace fs = std::filesystem;
    const std::string work = a.workDir.empty() ? test::makeTempDir("lectern-bench-ask") : a.workDir;
    fs::create_directories(work);
    std::string modelDir = a.model;
    const test::RandomModelSpec spec = presetSpec(a.preset);
    if (modelDir.empty()) {
        modelDir = work + "/model";
        std::fprintf(stderr, "writing a random model (%s) to %s\n", spec.describe().c_str(),
                     modelDir.c_str());
        if (Status s = test::writeRandomModel(modelDir, spec, 7); !s) {
            std::fprintf(stderr, "bench_ask: %s\n", s.message().c_str());
            return 1;
        }
    }
    const DeviceKind kind = a.device == "cuda"   ? DeviceKind::Cuda
                            : a.device == "auto" ? DeviceKind::Auto
                                                 : DeviceKind::Cpu;
    auto model = Model::load(
        modelDir,
        LoadOptions{kind, a.precision == "fp32" ? GpuPrecision::Fp32 : GpuPrecision::Bf16});
    if (!model) {
        std::fprintf(stderr, "bench_ask: %s\n", model.error().c_str());
        return 1;
    }
    const ModelInfo& info = model->info();
    // The question as the default prompt format frames it after a document.
    const std::vector<int32_t> question =
        textIds("\n\nQuestion: Which clause lets either party end the agreement early?\nAnswer:");
    std::mt19937 rng(1);
    std::vector<LengthResult> results;
    for (int64_t L : a.lengths) {
        std::vector<int32_t> doc(static_cast<size_t>(L));
        for (auto& t : doc) t = std::uniform_int_distribution<int32_t>(32, 126)(rng);
        auto r = measure(*model, a, doc, question, work + "/state-" + std::to_string(L) + ".lst");
        if (!r) {
            std::fprintf(stderr, "bench_ask: %lld tokens: %s\n", (long long)L, r.error().c_str());
            return 1;
        }
        std::fprintf(
            stderr,
            "%8lld tokens: resident %.2f ms, restored %.2f ms (load %.2f), re-read %.1f ms "
            "(build %.0f tok/s)\n",
            (long long)L, median(r->resident), median(r->restored), median(r->restoredLoad),
            median(r->reread), double(L) / (r->buildMs / 1000.0));
        results.push_back(std::move(*r));
    }
    // Decode: one token at a time from a short prefix.
    std::vector<double> stepMs;
    {
        Session s = model->newSession();
        if (Status st = s.prefill(question); !st) {
            std::fprintf(stderr, "bench_ask: decode: %s\n", st.message().c_str());
            return 1;
        }
        for (int i = 0; i < a.decodeSteps + 5; ++i) {
            const double t0 = nowMs();
            if (Status st = s.step(question[size_t(i) % question.size()]); !st) {
                std::fprintf(stderr, "bench_ask: decode: %s\n", st.message().c_str());
                return 1;
            }
            if (i >= 5) stepMs.push_back(nowMs() - t0);
        }
    }
    std::fprintf(stderr, "decode (%s): %.3f ms a step, %.0f tok/s\n", a.precision.c_str(),
                 median(stepMs), 1000.0 / median(stepMs));
    std::ostringstream o;
    o << "{\n  \"benchmark\": \"bench_ask\",\n  \"device\": \"" << a.device << "\",\n"
      << "  \"precision\": \"" << a.precision << "\",\n"
      << "  \"decode_step_ms\": " << median(stepMs) << ",\n"
      << "  \"model\": \"" << (a.model.empty() ? "random " + spec.describe() : a.model) << "\",\n"
      << "  \"parameters\": " << info.parameterCount << ",\n  \"state_bytes\": " << info.stateBytes
      << ",\n  \"question_tokens\": " << question.size() << ",\n  \"runs\": " << a.runs
      << ",\n  \"lengths\": [\n";
    for (size_t i = 0; i < results.size(); ++i) {
        const LengthResult& r = results[i];
        o << "    {\"tokens\": " << r.tokens << ", \"resident_ms\": " << median(r.resident)
          << ", \"restored_ms\": " << median(r.restored)
          << ", \"restored_load_ms\": " << median(r.restoredLoad)
          << ", \"reread_ms\": " << median(r.reread)
          << ", \"build_tokens_per_s\": " << double(r.tokens) / (r.buildMs / 1000.0)
          << ", \"state_file_bytes\": " << r.stateFileBytes
          << ",\n     \"resident_runs\": " << jsonList(r.resident)
          << ", \"restored_runs\": " << jsonList(r.restored)
          << ", \"reread_runs\": " << jsonList(r.reread) << "}"
          << (i + 1 < results.size() ? "," : "") << "\n";
    }
    o << "  ]";
    if (results.size() >= 2) {
        const LengthResult &lo = results.front(), &hi = results.back();
        o << ",\n  \"resident_ratio_longest_over_shortest\": "
          << median(hi.resident) / median(lo.resident)
          << ",\n  \"restored_ratio_longest_over_shortest\": "
          << median(hi.restored) / median(lo.restored)
          << ",\n  \"reread_over_resident_at_longest\": " << median(hi.reread) / median(hi.resident)
          << ",\n  \"reread_over_restored_at_longest\": "
          << median(hi.reread) / median(hi.restored);
    }
    o << "\n}\n";
    std::fputs(o.str().c_str(), stdout);
    if (!a.json.empty()) {
        FILE* f = std::fopen(a.json.c_str(), "w");
        if (!f || std::fputs(o.str().c_str(), f) < 0 || std::fclose(f) != 0) {
            std::fprintf(stderr, "bench_ask: cannot write %s\n", a.json.c_str());
            return 1;
        }
    }
    if (a.workDir.empty()) fs::remove_all(work);
    return 0;
}
