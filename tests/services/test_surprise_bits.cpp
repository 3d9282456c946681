// PrefillOptions::surprisalBits against a log-softmax computed here from allLogits, on
// random models: one value per token read, NaN only for a state's first token, the same
// values whether the document is read in one prefill or several, and the state the same
// (within rounding) whether or not surprisal was asked for.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "lectern/engine.h"
#include "random_model.h"

namespace lectern {
namespace {

struct Loaded {
    test::RandomModelSpec spec;
    Model model;
};

Loaded load(const test::RandomModelSpec& spec, uint64_t seed) {
    const std::string dir = test::makeTempDir("lectern-surprisal");
    Loaded l{spec, {}};
    EXPECT_TRUE(test::writeRandomModel(dir, spec, seed));
    auto m = Model::load(dir);
    std::filesystem::remove_all(dir);
    EXPECT_TRUE(m) << m.error();
    if (m) l.model = *m;
    return l;
}

std::vector<int32_t> randomTokens(int n, int vocab, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<int32_t> t(size_t(n), 0);
    for (auto& x : t) x = std::uniform_int_distribution<int32_t>(0, vocab - 1)(rng);
    return t;
}

// -log2 softmax(row)[token] over the real vocabulary, in double: the reference.
double referenceBits(const float* row, int vocab, int32_t token) {
    double mx = row[0], sum = 0;
    for (int v = 0; v < vocab; ++v) mx = std::max<double>(mx, row[v]);
    for (int v = 0; v < vocab; ++v) sum += std::exp(double(row[v]) - mx);
    return -((double(row[token]) - mx) - std::log(sum)) / std::log(2.0);
}

void expectMatchesAllLogits(const Loaded& l, const std::vector<int32_t>& tokens) {
    const int V = l.model.info().vocabPadded, vocab = l.model.info().vocabSize;
    Session a = l.model.newSession(), b = l.model.newSession();
    std::vector<float> logits, bits;
    PrefillOptions oa, ob;
    oa.allLogits = &logits;
    ob.surprisalBits = &bits;
    ASSERT_TRUE(a.prefill(tokens, oa));
    ASSERT_TRUE(b.prefill(tokens, ob));
    ASSERT_EQ(bits.size(), tokens.size());
    EXPECT_TRUE(std::isnan(bits[0])) << "nothing predicts a document's first token";
    for (size_t t = 1; t < tokens.size(); ++t) {
        const double ref = referenceBits(logits.data() + (t - 1) * size_t(V), vocab, tokens[t]);
        ASSERT_TRUE(std::isfinite(bits[t])) << "token " << t;
        ASSERT_NEAR(bits[t], ref, 1e-4 * std::max(1.0, ref)) << "token " << t;
    }
    // Asking for surprisal leaves the state as it was and the last logits within rounding
    // (they then come from the all-rows LM-head GEMM rather than the one-row GEMV).
    ASSERT_EQ(a.lastLogits().size(), b.lastLogits().size());
    for (size_t v = 0; v < a.lastLogits().size(); ++v)
        ASSERT_NEAR(a.lastLogits()[v], b.lastLogits()[v], 1e-5 * (1 + std::fabs(a.lastLogits()[v])))
            << "logit " << v;
    // Within rounding, not bit for bit: with a large vocabulary the pieces are smaller, and
    // the CPU GEMMs round differently for other row counts (measured: ~1e-7 relative).
    for (size_t i = 0; i < a.state().layers().size(); ++i) {
        const auto &x = a.state().layers()[i].ssm, &y = b.state().layers()[i].ssm;
        ASSERT_EQ(x.size(), y.size());
        for (size_t k = 0; k < x.size(); ++k)
            ASSERT_NEAR(x[k], y[k], 1e-5 * (1 + std::fabs(x[k]))) << "layer " << i << " ssm " << k;
    }
}

TEST(SurprisalBits, ByteVocabularyMatchesLogSoftmaxOfAllLogits) {
    test::RandomModelSpec spec;  // byte vocabulary, chunk 16
    const Loaded l = load(spec, 11);
    // 2,500 tokens: more than one 2,048-token piece.
    expectMatchesAllLogits(l, randomTokens(2500, spec.vocab, 12));
}

TEST(SurprisalBits, LargeVocabularyUsesSmallerPiecesAndStillMatches) {
    test::RandomModelSpec spec;
    spec.dModel = 32;
    spec.nLayer = 1;
    spec.vocab = 40000;  // 64 MiB of scratch holds ~400 rows: several pieces below
    const Loaded l = load(spec, 21);
    expectMatchesAllLogits(l, randomTokens(900, spec.vocab, 22));
}

TEST(SurprisalBits, SplitPrefillGivesTheSameValues) {
    test::RandomModelSpec spec;
    const Loaded l = load(spec, 31);
    const auto tokens = randomTokens(300, spec.vocab, 32);
    Session whole = l.model.newSession(), split = l.model.newSession();
    std::vector<float> w, s;
    PrefillOptions ow, os;
    ow.surprisalBits = &w;
    os.surprisalBits = &s;
    ASSERT_TRUE(whole.prefill(tokens, ow));
    const std::span<const int32_t> all(tokens);
    ASSERT_TRUE(split.prefill(all.subspan(0, 123), os));  // not a chunk multiple
    ASSERT_TRUE(split.prefill(all.subspan(123), os));
    ASSERT_EQ(w.size(), s.size());
    EXPECT_TRUE(std::isnan(s[0]));
    // Token 123 is scored by the first prefill's last logits, not marked unpredicted.
    EXPECT_TRUE(std::isfinite(s[123]));
    for (size_t t = 1; t < w.size(); ++t) EXPECT_NEAR(s[t], w[t], 1e-3) << "token " << t;
}

TEST(SurprisalBits, EmptyPrefillAppendsNothing) {
    test::RandomModelSpec spec;
    const Loaded l = load(spec, 41);
    Session s = l.model.newSession();
    std::vector<float> bits{1.0f};
    PrefillOptions o;
    o.surprisalBits = &bits;
    ASSERT_TRUE(s.prefill(std::span<const int32_t>{}, o));
    EXPECT_EQ(bits.size(), 1u);
}

}  // namespace
}  // namespace lectern
