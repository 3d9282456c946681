// The whole model on the GPU (fp32 mode) against ../shared/golden and against the CPU
// engine: every golden case through the chunked and the recurrent forms with all of a
// case's documents in one batch (logits, hidden states, final states), the greedy
// continuation decoded through the captured CUDA graph from a state that went GPU -> CPU
// -> GPU; a state continued across backends (GPU prefill, CPU continues, and back);
// prefill in small pieces equal to one piece (bounded memory); random configurations vs
// the CPU engine. Tolerance: the golden README's 1e-4 (angles 5e-4 rad), as the CPU test.
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "cuda/cuda_model.h"
#include "cuda_test_util.h"
#include "io/safetensors.h"
#include "lectern/engine.h"
#include "random_model.h"
#include "tensor_check.h"

namespace lectern {
namespace {

constexpr double kTol = 1e-4, kAngleTol = 5e-4;

void expectClose(const std::string& what, const float* a, const float* b, size_t n,
                 bool angle = false) {
    const auto e = angle ? test::compareAngle(a, b, n) : test::compareRel(a, b, n);
    std::printf("  %-30s %s\n", what.c_str(), e.describe().c_str());
    EXPECT_TRUE(e.within(angle ? kAngleTol : kTol)) << what << ": " << e.describe();
}

void expectStatesClose(const DocumentState& a, const DocumentState& b, const std::string& what) {
    ASSERT_EQ(a.layers().size(), b.layers().size());
    EXPECT_EQ(a.position(), b.position());
    for (size_t i = 0; i < a.layers().size(); ++i) {
        const LayerState &x = a.layers()[i], &y = b.layers()[i];
        const std::string p = what + " L" + std::to_string(i) + " ";
        expectClose(p + "angle", x.angle.data(), y.angle.data(), x.angle.size(), true);
        expectClose(p + "ssm", x.ssm.data(), y.ssm.data(), x.ssm.size());
        expectClose(p + "k", x.k.data(), y.k.data(), x.k.size());
        expectClose(p + "v", x.v.data(), y.v.data(), x.v.size());
    }
}

std::vector<float> floats(const io::RawTensor& t) {
    auto f = t.toFloat32();
    return f ? *f : std::vector<float>{};
}

struct GoldenCase {
    std::string name;
    ScanForm form;
};

class CudaGolden : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(CudaGolden, MatchesOfficialImplementation) {
    const auto& c = GetParam();
    // LECTERN_GOLDEN_DIR in the environment overrides the configured folder (the GPU
    // machine gets a carried copy).
    const char* env = std::getenv("LECTERN_GOLDEN_DIR");
    const std::string dir = std::string(env ? env : LECTERN_GOLDEN_DIR) + "/" + c.name;
    if (!std::filesystem::exists(dir)) GTEST_SKIP() << "no golden data at " << dir;
    auto host = test::loadHostModel(dir);
    ASSERT_TRUE(host) << host.error();
    auto m = cuda::CudaModel::create(host->cfg, host->w, {});
    ASSERT_TRUE(m) << m.error();
    auto io = io::safetensorsRead(dir + "/io.safetensors");
    ASSERT_TRUE(io) << io.error();
    auto& T = io->tensors;
    const int64_t B = T.at("input_ids").shape[0], L = T.at("input_ids").shape[1];
    const int V = host->cfg.vocabPadded(), nLayer = host->cfg.nLayer;
    std::vector<int32_t> ids(size_t(B * L));
    std::memcpy(ids.data(), T.at("input_ids").bytes.data(), ids.size() * 4);
    auto st = (*m)->newStates(int(B));
    ASSERT_TRUE(st) << st.error();
    std::vector<float> logits(size_t(B * L * V)), last(size_t(B * V));
    std::vector<std::vector<float>> hidden;
    ASSERT_TRUE((*m)->forward(*st, ids.data(), L, c.form, last.data(), logits.data(), &hidden));
    const auto refLogits = floats(T.at("logits"));
    expectClose("logits (all documents)", logits.data(), refLogits.data(), logits.size());
    for (int i = 0; i < nLayer; ++i) {
        const auto ref = floats(T.at("hidden." + std::to_string(i)));
        ASSERT_EQ(hidden[size_t(i)].size(), ref.size());
        expectClose("hidden." + std::to_string(i), hidden[size_t(i)].data(), ref.data(),
                    ref.size());
    }
    std::vector<DocumentState> states(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
        ASSERT_TRUE((*m)->download(*st, int(b), states[size_t(b)]));
        for (int i = 0; i < nLayer; ++i) {
            const LayerState& ls = states[size_t(b)].layers()[size_t(i)];
            const std::vector<float>* ours[4] = {&ls.angle, &ls.ssm, &ls.k, &ls.v};
            for (int w = 0; w < 4; ++w) {
                const auto ref = floats(T.at(DocumentState::tensorName(i, w)));
                const size_t n = ours[w]->size();
                expectClose("[b" + std::to_string(b) + "] " + DocumentState::tensorName(i, w),
                            ours[w]->data(), ref.data() + size_t(b) * n, n, w == 0);
            }
        }
    }
    // Greedy continuation of document 0 from its downloaded state, through the graph.
    auto one = (*m)->newStates(1);
    ASSERT_TRUE(one);
    ASSERT_TRUE((*m)->upload(states[0], *one, 0));
    const auto refIds = T.at("generated_ids");
    const auto refGen = floats(T.at("generated_logits"));
    std::vector<float> gen, cur(last.begin(), last.begin() + V);
    std::vector<int32_t> got;
    for (int64_t j = 0; j < refIds.shape[0]; ++j) {
        gen.insert(gen.end(), cur.begin(), cur.end());
        int best = 0;
        for (int v = 1; v < host->cfg.vocabSize; ++v)
            if (cur[size_t(v)] > cur[size_t(best)]) best = v;
        got.push_back(best);
        ASSERT_TRUE((*m)->decodeStep(*one, &got.back(), cur.data()));
    }
    std::vector<int32_t> want(got.size());
    std::memcpy(want.data(), refIds.bytes.data(), want.size() * 4);
    EXPECT_EQ(got, want) << "greedy continuation differs";
    expectClose("generated_logits", gen.data(), refGen.data(), gen.size());
}

std::vector<GoldenCase> goldenCases() {
    std::vector<GoldenCase> v;
    for (const char* n : {"siso_tiny", "siso_mlp_norm", "mimo_tiny", "mimo_norm"})
        for (ScanForm f : {ScanForm::Chunked, ScanForm::Recurrent}) v.push_back({n, f});
    return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaGolden, ::testing::ValuesIn(goldenCases()), [](const auto& i) {
    return i.param.name + (i.param.form == ScanForm::Chunked ? "_chunked" : "_recurrent");
});

// A random model, loaded both as a CPU Model and as a CudaModel from the same folder.
struct Pair {
    test::RandomModelSpec spec;
    Model cpu;
    test::HostModel host;
};

// tensorCoreDims: d_state and headdim multiples of 16 (the bf16 scan's tensor-core path).
Pair makePair(uint64_t seed, bool tensorCoreDims = false) {
    Pair p{test::randomSpec(seed), {}, {}};
    if (tensorCoreDims) {
        p.spec.dState = 16 << (seed % 2);
        p.spec.headdim = 16 << ((seed >> 1) % 2);
        p.spec.dModel = 32;
        if ((p.spec.expand * p.spec.dModel / p.spec.headdim) % p.spec.ngroups != 0)
            p.spec.ngroups = 1;
    }
    std::printf("seed %llu: %s\n", (unsigned long long)seed, p.spec.describe().c_str());
    const std::string dir = test::makeTempDir("lectern-cuda");
    EXPECT_TRUE(test::writeRandomModel(dir, p.spec, seed));
    auto m = Model::load(dir);
    EXPECT_TRUE(m) << m.error();
    if (m) p.cpu = *m;
    auto h = test::loadHostModel(dir);
    EXPECT_TRUE(h) << h.error();
    if (h) p.host = std::move(*h);
    std::filesystem::remove_all(dir);
    return p;
}

TEST(CudaModel, StateContinuesAcrossBackendsAndPieces) {
    for (int round = 0; round < test::rounds(4); ++round) {
        const uint64_t seed = test::freshSeed();
        Pair p = makePair(seed);
        std::mt19937_64 rng(seed);
        const int64_t L = 2 + int64_t(rng() % 180), cut = 1 + int64_t(rng() % (L - 1));
        std::vector<int32_t> ids(static_cast<size_t>(L));
        for (auto& t : ids) t = int32_t(rng() % p.spec.vocab);
        const int V = p.host.cfg.vocabPadded();
        // Reference: the CPU engine over the whole sequence.
        Session full = p.cpu.newSession();
        ASSERT_TRUE(full.prefill(ids));
        // GPU first part (pieces of 7 rows: bounded memory path), CPU the rest.
        cuda::CudaOptions small;
        small.maxRows = 7;
        auto g = cuda::CudaModel::create(p.host.cfg, p.host.w, small);
        ASSERT_TRUE(g) << g.error();
        auto st = (*g)->newStates(1);
        ASSERT_TRUE(st);
        std::vector<float> last(static_cast<size_t>(V));
        ASSERT_TRUE((*g)->forward(*st, ids.data(), cut, ScanForm::Chunked, last.data(), nullptr));
        Session mixed = p.cpu.newSession();
        ASSERT_TRUE((*g)->download(*st, 0, mixed.state()));
        ASSERT_TRUE(mixed.prefill(std::span(ids).subspan(size_t(cut))));
        expectStatesClose(mixed.state(), full.state(), "gpu->cpu");
        expectClose("gpu->cpu last logits", mixed.lastLogits().data(), full.lastLogits().data(),
                    size_t(V));
        // CPU first part, GPU the rest (one piece), then one decode step on each.
        Session head = p.cpu.newSession();
        ASSERT_TRUE(head.prefill(std::span(ids).first(size_t(cut))));
        auto g2 = cuda::CudaModel::create(p.host.cfg, p.host.w, {});
        ASSERT_TRUE(g2);
        auto st2 = (*g2)->newStates(1);
        ASSERT_TRUE(st2);
        ASSERT_TRUE((*g2)->upload(head.state(), *st2, 0));
        ASSERT_TRUE((*g2)->forward(*st2, ids.data() + cut, L - cut, ScanForm::Chunked, last.data(),
                                   nullptr));
        expectClose("cpu->gpu last logits", last.data(), full.lastLogits().data(), size_t(V));
        DocumentState back;
        ASSERT_TRUE((*g2)->download(*st2, 0, back));
        expectStatesClose(back, full.state(), "cpu->gpu");
        const int32_t next = ids[0];
        ASSERT_TRUE(full.step(next));
        ASSERT_TRUE((*g2)->decodeStep(*st2, &next, last.data()));
        expectClose("decode step logits", last.data(), full.lastLogits().data(), size_t(V));
    }
}

// The benchmark's path on small models: bf16 projections and the tensor-core scan (q/k
// and the chunk-entry states in bf16), two documents in one batch, in pieces of 64 to 163
// tokens (states carried across calls, pieces not a multiple of the chunk), against the
// CPU engine in fp32. Last logits as test_cuda_session's bf16 case (5e-2, nmse 1e-3).
// The states are looser: dt comes out of the bf16 in_proj (~4e-3 relative), and the decay
// e^{Σ adt} over hundreds of tokens scales that error by |Σ adt|; layer by layer it grows
// (seen on an H100 with random MIMO models: layer 0 ≤ 4.6e-2, nmse ≤ 8.1e-4; layer 2 up
// to 0.40, nmse 2.2e-2, while the logits stayed within 1.5e-2; a later run: layer 0 of a
// SISO model 0.119, nmse 1.9e-3; MIMO r2 seed 1839971199957060713 layer 0 nmse 1.13e-2 and
// 1.22e-2, NOTES-gpu.md G4). So layer 0 within 0.25 (nmse 3e-2), deeper layers nmse under 0.1:
// the nmse is the discriminating check, a wrong chunk, row or document gives ~1.
TEST(CudaModel, Bf16PrefillMatchesCpu) {
    for (int round = 0; round < test::rounds(3); ++round) {
        const uint64_t seed = test::freshSeed();
        Pair p = makePair(seed, true);
        std::mt19937_64 rng(seed);
        const int64_t L = 64 + int64_t(rng() % 400), piece = 64 + int64_t(rng() % 100);
        std::printf("  L=%lld piece=%lld\n", (long long)L, (long long)piece);
        std::vector<int32_t> ids(static_cast<size_t>(2 * L));
        for (auto& t : ids) t = int32_t(rng() % p.spec.vocab);
        cuda::CudaOptions o;
        o.precision = cuda::Precision::Bf16;
        o.maxRows = 2 * piece;
        auto g = cuda::CudaModel::create(p.host.cfg, p.host.w, o);
        ASSERT_TRUE(g) << g.error();
        auto st = (*g)->newStates(2);
        ASSERT_TRUE(st);
        const int V = p.host.cfg.vocabPadded();
        std::vector<float> last(static_cast<size_t>(2 * V));
        ASSERT_TRUE((*g)->forward(*st, ids.data(), L, ScanForm::Chunked, last.data(), nullptr));
        for (int b = 0; b < 2; ++b) {
            Session ref = p.cpu.newSession();
            ASSERT_TRUE(ref.prefill(std::span(ids).subspan(size_t(b * L), size_t(L))));
            DocumentState got;
            ASSERT_TRUE((*g)->download(*st, b, got));
            auto check = [&](const std::string& what, const float* a, const float* r, size_t n,
                             double tol, double nmse) {
                const auto e = test::compareRel(a, r, n);
                std::printf("  doc %d %-14s %s\n", b, what.c_str(), e.describe().c_str());
                EXPECT_TRUE(e.within(tol) && e.nmse < nmse) << what << ": " << e.describe();
            };
            check("last logits", last.data() + size_t(b) * V, ref.lastLogits().data(), size_t(V),
                  5e-2, 1e-3);
            for (size_t i = 0; i < got.layers().size(); ++i) {
                const LayerState &x = got.layers()[i], &y = ref.state().layers()[i];
                const double tol = i == 0 ? 0.25 : 1e9, nmse = i == 0 ? 3e-2 : 0.1;
                const std::string l = "L" + std::to_string(i);
                check(l + " ssm", x.ssm.data(), y.ssm.data(), x.ssm.size(), tol, nmse);
                check(l + " k", x.k.data(), y.k.data(), x.k.size(), tol, nmse);
            }
        }
    }
}

TEST(CudaModel, ErrorsAreValues) {
    Pair p = makePair(test::freshSeed());
    auto g = cuda::CudaModel::create(p.host.cfg, p.host.w, {});
    ASSERT_TRUE(g);
    auto st = (*g)->newStates(1);
    ASSERT_TRUE(st);
    const int32_t bad = p.host.cfg.vocabPadded();
    const Status s = (*g)->forward(*st, &bad, 1, ScanForm::Chunked, nullptr, nullptr);
    EXPECT_FALSE(s);
    EXPECT_NE(s.message().find("outside the vocabulary"), std::string::npos) << s.message();
    // An impossible allocation is a clear error and leaves the model usable.
    auto huge = (*g)->newStates(1 << 30);
    ASSERT_FALSE(huge);
    std::printf("  huge allocation: %s\n", huge.error().c_str());
    EXPECT_NE(huge.error().find("CUDA out of memory: need "), std::string::npos);
    const int32_t ok = 1;
    std::vector<float> last(size_t(p.host.cfg.vocabPadded()));
    EXPECT_TRUE((*g)->forward(*st, &ok, 1, ScanForm::Chunked, last.data(), nullptr));
}

}  // namespace
}  // namespace lectern
