// Sampling on hand-made logits: each mask keeps exactly the ids it should, the kept mass is
// the renormalised softmax, the repetition penalty follows the CTRL rule, and draws are
// reproducible from the seed and follow the distribution.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "generate/sampling.h"

namespace lectern::generate {
namespace {

// Logits whose softmax is exactly (up to rounding) the given probabilities.
std::vector<float> logitsOf(const std::vector<double>& p) {
    std::vector<float> l;
    for (double x : p) l.push_back(float(std::log(x)));
    return l;
}

std::vector<int> kept(const std::vector<double>& p) {
    std::vector<int> ids;
    for (size_t i = 0; i < p.size(); ++i)
        if (p[i] > 0.0) ids.push_back(int(i));
    return ids;
}

const std::vector<double> kProbs = {0.05, 0.5, 0.1, 0.2, 0.15};  // order: 1, 3, 4, 2, 0

TEST(Sampling, GreedyTakesTheFirstMaximum) {
    SamplingOptions o;
    o.greedy = true;
    Sampler s(o);
    const std::vector<float> l = {1.0f, 3.0f, -2.0f, 3.0f};
    EXPECT_EQ(s.sample(l, {}), 1);
    o.greedy = false;
    o.temperature = 0.0f;  // temperature 0 is greedy too
    EXPECT_EQ(Sampler(o).sample(l, {}), 1);
}

TEST(Sampling, TemperatureScalesTheSoftmax) {
    const std::vector<float> l = {0.5f, -1.0f, 2.0f};
    SamplingOptions o;
    o.temperature = 0.5f;
    const auto p = samplingDistribution(l, {}, o);
    double z = 0;
    for (float x : l) z += std::exp(double(x) / 0.5);
    for (size_t i = 0; i < l.size(); ++i)
        EXPECT_NEAR(p[i], std::exp(double(l[i]) / 0.5) / z, 1e-12);
}

TEST(Sampling, TopKKeepsExactlyK) {
    SamplingOptions o;
    o.topK = 2;
    const auto p = samplingDistribution(logitsOf(kProbs), {}, o);
    EXPECT_EQ(kept(p), (std::vector<int>{1, 3}));
    EXPECT_NEAR(p[1], 0.5 / 0.7, 1e-6);
    EXPECT_NEAR(p[3], 0.2 / 0.7, 1e-6);
    o.topK = 1;
    EXPECT_EQ(kept(samplingDistribution(logitsOf(kProbs), {}, o)), (std::vector<int>{1}));
    // Ties at the cut keep the lower id.
    o.topK = 2;
    const std::vector<float> tie = {1.0f, 2.0f, 1.0f, 1.0f};
    EXPECT_EQ(kept(samplingDistribution(tie, {}, o)), (std::vector<int>{0, 1}));
}

TEST(Sampling, TopPKeepsTheSmallestSetReachingP) {
    SamplingOptions o;
    o.topP = 0.75f;  // 0.5 + 0.2 = 0.7 < 0.75, + 0.15 = 0.85
    auto p = samplingDistribution(logitsOf(kProbs), {}, o);
    EXPECT_EQ(kept(p), (std::vector<int>{1, 3, 4}));
    EXPECT_NEAR(p[4], 0.15 / 0.85, 1e-6);
    o.topP = 0.45f;  // the top token alone
    EXPECT_EQ(kept(samplingDistribution(logitsOf(kProbs), {}, o)), (std::vector<int>{1}));
    o.topP = 0.9f;  // 0.85 < 0.9 <= 0.95: everything but the 0.05
    EXPECT_EQ(kept(samplingDistribution(logitsOf(kProbs), {}, o)), (std::vector<int>{1, 2, 3, 4}));
}

TEST(Sampling, MinPIsRelativeToTheTopProbability) {
    SamplingOptions o;
    o.minP = 0.25f;  // cut 0.125: keeps 0.5, 0.2, 0.15
    auto p = samplingDistribution(logitsOf(kProbs), {}, o);
    EXPECT_EQ(kept(p), (std::vector<int>{1, 3, 4}));
    EXPECT_NEAR(p[1], 0.5 / 0.85, 1e-6);
    o.minP = 1.0f;
    EXPECT_EQ(kept(samplingDistribution(logitsOf(kProbs), {}, o)), (std::vector<int>{1}));
}

TEST(Sampling, MasksCompose) {
    SamplingOptions o;
    o.topK = 4;      // drops id 0
    o.topP = 0.8f;   // of 0.5/.95, 0.2/.95, 0.15/.95, 0.1/.95: keeps 1, 3, 4 (0.895)
    o.minP = 0.35f;  // relative to 0.5/.85: keeps 1 and 3 (0.2 >= 0.175), drops 4 (0.15)
    EXPECT_EQ(kept(samplingDistribution(logitsOf(kProbs), {}, o)), (std::vector<int>{1, 3}));
}

TEST(Sampling, RepetitionPenaltyFollowsTheCtrlRule) {
    std::vector<float> l = {2.0f, -2.0f, 1.0f, 0.0f};
    const std::vector<int32_t> history = {0, 1, 1, 7, -3};  // repeats and out-of-range ids
    applyRepetitionPenalty(l, history, 2.0f);
    EXPECT_EQ(l, (std::vector<float>{1.0f, -4.0f, 1.0f, 0.0f}));
    // Greedy sees the penalised logits: 0 no longer wins over 2 (lower id wins ties).
    SamplingOptions o;
    o.greedy = true;
    o.repetitionPenalty = 4.0f;
    const std::vector<float> raw = {2.0f, -2.0f, 1.0f};
    EXPECT_EQ(Sampler(o).sample(raw, std::vector<int32_t>{0}), 2);
}

TEST(Sampling, DrawsAreReproducibleAndFollowTheDistribution) {
    SamplingOptions o;
    o.seed = 42;
    o.topK = 3;
    Sampler a(o), b(o);
    const auto l = logitsOf(kProbs);
    std::vector<int> counts(kProbs.size(), 0);
    const int n = 20000;
    std::vector<int32_t> first;
    for (int i = 0; i < n; ++i) {
        const int32_t x = a.sample(l, {});
        ASSERT_EQ(x, b.sample(l, {})) << "draw " << i;
        ++counts[size_t(x)];
        if (i < 50) first.push_back(x);
    }
    EXPECT_EQ(counts[0] + counts[2], 0);  // masked by top-k
    const double expect[] = {0, 0.5 / 0.85, 0, 0.2 / 0.85, 0.15 / 0.85};
    for (size_t i = 0; i < kProbs.size(); ++i)
        EXPECT_NEAR(counts[i] / double(n), expect[i], 0.015) << "id " << i;
    o.seed = 43;
    Sampler c(o);
    std::vector<int32_t> other;
    for (int i = 0; i < 50; ++i) other.push_back(c.sample(l, {}));
    EXPECT_NE(first, other);  // another seed, another sequence
}

TEST(Sampling, BadOptionsAndBadLogitsAreHandled) {
    SamplingOptions o;
    o.topP = 0.0f;
    EXPECT_FALSE(validate(o));
    o = {};
    o.minP = 1.5f;
    EXPECT_FALSE(validate(o));
    o = {};
    o.topK = -1;
    EXPECT_FALSE(validate(o));
    o = {};
    o.repetitionPenalty = 0.0f;
    EXPECT_FALSE(validate(o));
    o = {};
    o.temperature = NAN;
    EXPECT_FALSE(validate(o));
    EXPECT_TRUE(validate(SamplingOptions{}));
    // NaN and -inf logits are never chosen; all-NaN logits still give an id.
    Sampler s(SamplingOptions{});
    const std::vector<float> l = {NAN, -INFINITY, 0.0f, NAN};
    for (int i = 0; i < 20; ++i) EXPECT_EQ(s.sample(l, {}), 2);
    const std::vector<float> nan = {NAN, NAN};
    const int32_t x = s.sample(nan, {});
    EXPECT_TRUE(x == 0 || x == 1);
}

// Sampler::sample with the caller's draw (generate() samples on the GPU with it and falls
// back here): for u taken from an equally seeded sampler's uniform() it picks what sample()
// picks, token after token, penalty and masks included.
TEST(Sampling, SampleWithTheCallersDrawEqualsSample) {
    SamplingOptions o;
    o.temperature = 0.8f;
    o.topK = 7;
    o.topP = 0.9f;
    o.minP = 0.01f;
    o.repetitionPenalty = 1.3f;
    o.seed = 99;
    std::vector<float> logits(50);
    for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(float(i) * 0.7f) * 3.0f;
    Sampler a(o), b(o), draws(o);
    std::vector<int32_t> history;
    int changes = 0;
    for (int i = 0; i < 40; ++i) {
        const int32_t x = a.sample(logits, history);
        const int32_t y = b.sample(logits, history, draws.uniform());
        ASSERT_EQ(x, y) << "token " << i;
        changes += !history.empty() && history.back() != x;
        history.push_back(x);
    }
    EXPECT_GT(changes, 0);  // the draws mattered
}

}  // namespace
}  // namespace lectern::generate
