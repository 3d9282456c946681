// Property tests on random configurations (seeds drawn fresh each run and printed; set
// LECTERN_TEST_SEED to replay one): the chunked and the recurrent forms agree, prefill in
// two pieces equals prefill in one (RELIABILITY NUM-3), and a fork is independent of its
// parent and continues bit-identically.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

#include "io/safetensors.h"
#include "lectern/engine.h"
#include "random_model.h"
#include "tensor_check.h"

namespace lectern {
namespace {

constexpr double kTol = 1e-4;  // the golden tolerance; measured errors are ~1e-6
constexpr int kConfigs = 6;

uint64_t baseSeed() {
    if (const char* e = std::getenv("LECTERN_TEST_SEED")) return std::strtoull(e, nullptr, 10);
    return std::random_device{}() * 0x9E3779B97F4A7C15ull + std::random_device{}();
}

struct RandomCase {
    uint64_t seed;
    test::RandomModelSpec spec;
    std::string dir;
    Model model;
    std::vector<int32_t> tokens;
};

RandomCase makeCase(uint64_t seed) {
    RandomCase c{seed, test::randomSpec(seed), test::makeTempDir("lectern-prop"), {}, {}};
    std::printf("seed %llu: %s\n", (unsigned long long)seed, c.spec.describe().c_str());
    EXPECT_TRUE(test::writeRandomModel(c.dir, c.spec, seed));
    auto m = Model::load(c.dir);
    EXPECT_TRUE(m) << m.error();
    if (m) c.model = *m;
    std::filesystem::remove_all(c.dir);
    std::mt19937_64 rng(seed ^ 0x5bd1e995);
    const int L = std::uniform_int_distribution<int>(1, 150)(rng);
    for (int i = 0; i < L; ++i)
        c.tokens.push_back(std::uniform_int_distribution<int>(0, c.spec.vocab - 1)(rng));
    return c;
}

void expectStatesClose(const DocumentState& a, const DocumentState& b, const std::string& what) {
    ASSERT_EQ(a.layers().size(), b.layers().size());
    ASSERT_EQ(a.position(), b.position());
    for (size_t i = 0; i < a.layers().size(); ++i) {
        const LayerState &x = a.layers()[i], &y = b.layers()[i];
        const auto ang = test::compareAngle(x.angle.data(), y.angle.data(), x.angle.size());
        EXPECT_TRUE(ang.within(5e-4)) << what << " layer " << i << " angle " << ang.describe();
        const std::vector<float>* xs[3] = {&x.ssm, &x.k, &x.v};
        const std::vector<float>* ys[3] = {&y.ssm, &y.k, &y.v};
        for (int w = 0; w < 3; ++w) {
            const auto e = test::compareRel(xs[w]->data(), ys[w]->data(), xs[w]->size());
            EXPECT_TRUE(e.within(kTol))
                << what << " layer " << i << " state " << w << " " << e.describe();
        }
    }
}

TEST(EngineProperties, ChunkedEqualsRecurrent) {
    const uint64_t base = baseSeed();
    for (int k = 0; k < kConfigs; ++k) {
        RandomCase c = makeCase(base + uint64_t(k));
        Session a = c.model.newSession(), b = c.model.newSession();
        std::vector<float> la, lb;
        PrefillOptions oa, ob;
        oa.allLogits = &la;
        ob.allLogits = &lb;
        ob.form = ScanForm::Recurrent;
        ASSERT_TRUE(a.prefill(c.tokens, oa));
        ASSERT_TRUE(b.prefill(c.tokens, ob));
        const auto e = test::compareRel(la.data(), lb.data(), la.size());
        std::printf("  chunked vs recurrent, %zu tokens: logits %s\n", c.tokens.size(),
                    e.describe().c_str());
        EXPECT_TRUE(e.within(kTol)) << "seed " << c.seed;
        expectStatesClose(a.state(), b.state(), "seed " + std::to_string(c.seed));
    }
}

TEST(EngineProperties, SplitPrefillEqualsWhole) {
    const uint64_t base = baseSeed();
    for (int k = 0; k < kConfigs; ++k) {
        RandomCase c = makeCase(base + 1000 + uint64_t(k));
        std::mt19937_64 rng(c.seed);
        const size_t cut = std::uniform_int_distribution<size_t>(0, c.tokens.size())(rng);
        for (ScanForm form : {ScanForm::Chunked, ScanForm::Recurrent}) {
            Session whole = c.model.newSession(), split = c.model.newSession();
            PrefillOptions o;
            o.form = form;
            ASSERT_TRUE(whole.prefill(c.tokens, o));
            std::span<const int32_t> all(c.tokens);
            ASSERT_TRUE(split.prefill(all.first(cut), o));
            ASSERT_TRUE(split.prefill(all.subspan(cut), o));
            const auto e = test::compareRel(split.lastLogits().data(), whole.lastLogits().data(),
                                            whole.lastLogits().size());
            std::printf("  split at %zu of %zu (%s): last logits %s\n", cut, c.tokens.size(),
                        form == ScanForm::Chunked ? "chunked" : "recurrent", e.describe().c_str());
            EXPECT_TRUE(e.within(kTol)) << "seed " << c.seed;
            expectStatesClose(split.state(), whole.state(), "seed " + std::to_string(c.seed));
        }
    }
}

bool sameBits(const DocumentState& a, const DocumentState& b) {
    if (a.position() != b.position() || a.layers().size() != b.layers().size()) return false;
    for (size_t i = 0; i < a.layers().size(); ++i) {
        const LayerState &x = a.layers()[i], &y = b.layers()[i];
        if (x.angle != y.angle || x.ssm != y.ssm || x.k != y.k || x.v != y.v) return false;
    }
    return true;
}

TEST(EngineProperties, ForkIsIndependentAndDeterministic) {
    const uint64_t base = baseSeed();
    for (int k = 0; k < 3; ++k) {
        RandomCase c = makeCase(base + 2000 + uint64_t(k));
        std::span<const int32_t> all(c.tokens);
        const size_t cut = all.size() / 2;
        Session parent = c.model.newSession();
        ASSERT_TRUE(parent.prefill(all.first(cut)));
        const DocumentState before = parent.state();
        Session child = parent.fork();
        ASSERT_TRUE(child.prefill(all.subspan(cut)));
        ASSERT_TRUE(child.step(c.tokens[0]));
        EXPECT_TRUE(sameBits(parent.state(), before)) << "fork wrote into its parent";
        ASSERT_TRUE(parent.prefill(all.subspan(cut)));
        ASSERT_TRUE(parent.step(c.tokens[0]));
        EXPECT_TRUE(sameBits(parent.state(), child.state())) << "same tokens, different bits";
        EXPECT_TRUE(std::equal(parent.lastLogits().begin(), parent.lastLogits().end(),
                               child.lastLogits().begin()));
    }
}

}  // namespace
}  // namespace lectern

namespace lectern {
namespace {

// A prefill longer than one internal piece (2048 tokens) must equal the recurrent form,
// report progress, and stop cleanly when cancelled.
TEST(EngineProperties, LongPrefillPiecesProgressAndCancel) {
    test::RandomModelSpec spec;
    spec.dModel = 16;
    spec.nLayer = 1;
    spec.dState = 8;
    spec.headdim = 8;
    spec.chunk = 7;  // pieces are 2044 tokens: not a power of two
    const std::string dir = test::makeTempDir("lectern-long");
    ASSERT_TRUE(test::writeRandomModel(dir, spec, 11));
    auto m = Model::load(dir);
    std::filesystem::remove_all(dir);
    ASSERT_TRUE(m) << m.error();
    std::vector<int32_t> toks(4500);
    for (size_t i = 0; i < toks.size(); ++i) toks[i] = int32_t((i * 7919) % 256);
    Session a = m->newSession(), b = m->newSession();
    std::vector<int64_t> seen;
    PrefillOptions oa;
    oa.progress = [&](int64_t done, int64_t total) {
        EXPECT_EQ(total, 4500);
        seen.push_back(done);
    };
    ASSERT_TRUE(a.prefill(toks, oa));
    EXPECT_EQ(seen, (std::vector<int64_t>{2044, 4088, 4500}));
    PrefillOptions ob;
    ob.form = ScanForm::Recurrent;
    ASSERT_TRUE(b.prefill(toks, ob));
    const auto e =
        test::compareRel(a.lastLogits().data(), b.lastLogits().data(), a.lastLogits().size());
    std::printf("  4500 tokens, chunked vs recurrent: last logits %s\n", e.describe().c_str());
    EXPECT_TRUE(e.within(kTol));
    expectStatesClose(a.state(), b.state(), "long");

    std::atomic<bool> cancel{false};
    PrefillOptions oc;
    oc.cancel = &cancel;
    oc.progress = [&](int64_t, int64_t) { cancel = true; };
    Session c = m->newSession();
    Status st = c.prefill(toks, oc);
    EXPECT_FALSE(st);
    EXPECT_NE(st.message().find("cancelled after 2044 of 4500"), std::string::npos) << st.message();
    EXPECT_EQ(c.position(), 2044);  // the state holds exactly the tokens read
}

// bf16 and fp16 weights load and run (compute stays fp32); results track the fp32 model
// within the weights' own rounding.
TEST(EngineProperties, Bf16AndFp16WeightsLoad) {
    test::RandomModelSpec spec;
    auto w = test::randomWeights(spec, 5);
    ASSERT_TRUE(w);
    const std::string dir32 = test::makeTempDir("lectern-f32");
    ASSERT_TRUE(test::writeRandomModel(dir32, spec, 5));
    auto m32 = Model::load(dir32);
    ASSERT_TRUE(m32) << m32.error();
    Session ref = m32->newSession();
    const std::vector<int32_t> toks = {1, 5, 9, 200, 3, 77, 42};
    ASSERT_TRUE(ref.prefill(toks));
    for (io::DType dt : {io::DType::BF16, io::DType::F16}) {
        io::TensorMap half;
        for (const auto& [name, t] : *w) {
            auto f = t.toFloat32();
            ASSERT_TRUE(f);
            io::RawTensor h;
            h.dtype = dt;
            h.shape = t.shape;
            h.bytes.resize(f->size() * 2);
            for (size_t i = 0; i < f->size(); ++i) {
                uint32_t bits;
                std::memcpy(&bits, &(*f)[i], 4);
                uint16_t v;
                if (dt == io::DType::BF16) {
                    v = uint16_t((bits + 0x7FFF + ((bits >> 16) & 1)) >>
                                 16);  // round to nearest even
                } else {
                    const _Float16 x = _Float16((*f)[i]);
                    std::memcpy(&v, &x, 2);
                }
                std::memcpy(&h.bytes[2 * i], &v, 2);
            }
            half[name] = std::move(h);
        }
        ASSERT_TRUE(io::safetensorsWrite(dir32 + "/model.safetensors", half));
        auto m = Model::load(dir32);
        ASSERT_TRUE(m) << m.error();
        Session s = m->newSession();
        ASSERT_TRUE(s.prefill(toks));
        const auto e = test::compareRel(s.lastLogits().data(), ref.lastLogits().data(),
                                        ref.lastLogits().size());
        std::printf("  %s weights vs fp32: last logits %s\n", io::dtypeName(dt),
                    e.describe().c_str());
        EXPECT_TRUE(e.within(dt == io::DType::BF16 ? 5e-2 : 5e-3));  // weight rounding: 2^-8, 2^-11
    }
    std::filesystem::remove_all(dir32);
}

}  // namespace
}  // namespace lectern
