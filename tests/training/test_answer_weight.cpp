// --answer-weight (issue 6): the answer mask of known byte strings, the weighted CPU
// cross-entropy (gradient = W × the plain one on answer rows, the rest and the loss value
// unchanged), and the trainer: W = 1 is the plain run bit for bit, W != 1 changes the
// weights, and a checkpoint keeps the option.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/random_model.h"
#include "train_fixture.h"
#include "training/answer_weights.h"
#include "training/loss.h"
#include "training/model_train.h"
#include "training/params.h"
#include "training/trainer.h"

namespace lectern {
namespace {

std::vector<int32_t> idsOf(const std::string& s) {
    std::vector<int32_t> ids;
    for (unsigned char c : s) ids.push_back(int32_t(c));
    return ids;
}

// The mask as a string: '^' under answer bytes, '.' elsewhere.
std::string maskString(const std::string& s) {
    const std::vector<int32_t> ids = idsOf(s);
    const std::vector<bool> m = train::answer_byte_mask(ids.data(), int64_t(ids.size()));
    std::string out;
    for (bool b : m) out += b ? '^' : '.';
    return out;
}

TEST(AnswerMask, MarksTheSpaceValueAndNewlineAfterTheMarker) {
    const std::string s = "fact.\n\nQuestion: who?\nAnswer: Bob 7\nmore Answer text";
    const std::string want = std::string(s.find("Answer:") + 7, '.') + "^^^^^^^" +
                             std::string(s.size() - (s.find("Answer:") + 14), '.');
    EXPECT_EQ(maskString(s), want);
}

TEST(AnswerMask, TwoAnswersAndAnUnfinishedOne) {
    EXPECT_EQ(maskString("Answer: a\nxAnswer: bc\nyAnswer: d"), ".......^^^........^^^^........^^");
}

TEST(AnswerMask, MarkerAtTheWindowsEndOrCutOrAbsent) {
    EXPECT_EQ(maskString("text Answer:"), "............");     // nothing after it in the window
    EXPECT_EQ(maskString("swer: 42\nnext"), ".............");  // marker cut at the start
    EXPECT_EQ(maskString("no marker here\n"), "...............");
    EXPECT_EQ(maskString("answer: lower case\n"), "...................");
}

TEST(AnswerMask, RowWeightsPutWOnThePositionBeforeEachAnswerByte) {
    const std::string row0 = "Q?\nAnswer: 5\n", row1 = "Answer: 9\nabc";
    ASSERT_EQ(row0.size(), row1.size());
    std::vector<int32_t> ids = idsOf(row0 + row1);
    const int64_t L = int64_t(row0.size());
    std::vector<float> w;
    train::answer_row_weights(ids.data(), 2, L, 20.0f, w);
    ASSERT_EQ(w.size(), size_t(2 * L));
    const std::string m0 = maskString(row0), m1 = maskString(row1);
    for (int64_t t = 0; t < L; ++t) {
        const float want0 = t + 1 < L && m0[size_t(t + 1)] == '^' ? 20.0f : 1.0f;
        const float want1 = t + 1 < L && m1[size_t(t + 1)] == '^' ? 20.0f : 1.0f;
        EXPECT_EQ(w[size_t(t)], want0) << "row 0, t " << t;
        EXPECT_EQ(w[size_t(L + t)], want1) << "row 1, t " << t;
    }
    // Row 0's answer " 5\n" is its last three bytes: targets of t = L-4 .. L-2.
    EXPECT_EQ(w[size_t(L - 4)], 20.0f);
    EXPECT_EQ(w[size_t(L - 5)], 1.0f);
    EXPECT_EQ(w[size_t(L - 1)], 1.0f);
}

TEST(AnswerLoss, GradientScaledOnWeightedRowsOnlyLossUnchanged) {
    const int64_t T = 12, V = 264;
    std::mt19937 rng(17);
    std::normal_distribution<float> nd(0.0f, 2.0f);
    std::vector<float> logits(size_t(T * V));
    for (float& x : logits) x = nd(rng);
    std::vector<int32_t> ids(static_cast<size_t>(T));
    for (int32_t& i : ids) i = int32_t(rng() % 256);
    std::vector<float> weights(size_t(T), 1.0f);
    weights[2] = 7.5f, weights[5] = 0.0f, weights[T - 2] = 20.0f, weights[T - 1] = 3.0f;
    std::vector<float> plain(size_t(T * V), NAN), weighted(size_t(T * V), NAN);
    const double scale = 1.0 / double(T - 1);
    const double l0 =
        train::cross_entropy_forward_backward(logits.data(), ids.data(), T, V, scale, plain.data());
    const double l1 = train::cross_entropy_forward_backward(logits.data(), ids.data(), T, V, scale,
                                                            weighted.data(), weights.data());
    EXPECT_EQ(l0, l1);  // the loss is the plain sum, bit for bit
    for (int64_t t = 0; t < T; ++t)
        for (int64_t v = 0; v < V; ++v) {
            const float p = plain[size_t(t * V + v)], q = weighted[size_t(t * V + v)];
            ASSERT_FALSE(std::isnan(q));
            if (t == T - 1) {
                EXPECT_EQ(q, 0.0f);
            } else if (weights[size_t(t)] == 1.0f) {
                EXPECT_EQ(q, p) << t << "," << v;
            } else {
                EXPECT_NEAR(q, weights[size_t(t)] * p, 1e-6 * std::fabs(weights[size_t(t)] * p))
                    << t << "," << v;
            }
        }
    const std::vector<float> ones(size_t(T), 1.0f);
    std::vector<float> withOnes(size_t(T * V), NAN);
    train::cross_entropy_forward_backward(logits.data(), ids.data(), T, V, scale, withOnes.data(),
                                          ones.data());
    EXPECT_EQ(withOnes, plain);  // weight 1 is the plain gradient bit for bit
}

// Retrieval-like text: filler, a question and its answer, again and again.
std::string answersCorpus() {
    std::string s;
    for (int k = 0; s.size() < 6000; ++k)
        s += "The code of item " + std::to_string(k) + " is " + std::to_string(k * 37 % 1000) +
             ".\n\nQuestion: what is the code of item " + std::to_string(k) +
             "?\nAnswer: " + std::to_string(k * 37 % 1000) + "\n\x1e";
    return s;
}

// loss_and_grads with all-1 weights is the null-weights step bit for bit (the per-row offset
// into [B, L] included); answer weights change only the gradients, never the loss sum.
TEST(AnswerLoss, LossAndGradsWithWeightsOfOneIsThePlainStep) {
    auto m = test::tinyModel(false, 9);
    ASSERT_TRUE(m) << m.error();
    const int64_t B = 2, L = 40;
    const std::string text = "Question: code?\nAnswer: 123\nQuestion: b?\nAnswer: xyz\nmore text!";
    ASSERT_GE(text.size(), size_t(B * L) / 2);
    std::vector<int32_t> ids = idsOf((text + text).substr(0, size_t(B * L)));
    const double scale = 1.0 / double(B * (L - 1));
    model::ModelWeights g0 = train::zerosLike(m->cfg), g1 = train::zerosLike(m->cfg),
                        g20 = train::zerosLike(m->cfg);
    const std::vector<float> ones(size_t(B * L), 1.0f);
    std::vector<float> twenty;
    train::answer_row_weights(ids.data(), B, L, 20.0f, twenty);
    const double l0 = train::loss_and_grads(m->cfg, m->w, ids.data(), B, L, &g0, scale);
    const double l1 =
        train::loss_and_grads(m->cfg, m->w, ids.data(), B, L, &g1, scale, nullptr, ones.data());
    const double l20 =
        train::loss_and_grads(m->cfg, m->w, ids.data(), B, L, &g20, scale, nullptr, twenty.data());
    EXPECT_EQ(l0, l1);
    EXPECT_EQ(l0, l20);
    EXPECT_EQ(g0.embedding, g1.embedding);
    EXPECT_EQ(g0.layers[0].inProj, g1.layers[0].inProj);
    EXPECT_NE(g0.embedding, g20.embedding);
}

train::TrainOptions options(const std::string& out, double answerWeight) {
    train::TrainOptions o;
    o.steps = 4, o.seqLen = 48, o.batch = 2, o.accum = 1, o.warmup = 1, o.lr = 3e-3;
    o.evalEvery = 4, o.evalWindows = 2, o.checkpointEvery = 4, o.seed = 3;
    o.outDir = out, o.progress = false, o.answerWeight = answerWeight;
    return o;
}

std::string trainedWeights(const std::string& dir, const train::TrainOptions& o,
                           double* lastLoss = nullptr) {
    auto m = test::tinyModel(false, 5);
    EXPECT_TRUE(m) << m.error();
    train::TrainRun r{std::move(*m), {}, train::ByteDataStream::fromBytes(answersCorpus(), 0.2, 3)};
    r.opt = train::adamwInit(r.model.cfg);
    auto rep = train::runTraining(r, o);
    EXPECT_TRUE(rep) << rep.error();
    if (lastLoss && rep) *lastLoss = rep->lastLoss;
    return test::fileBytes(std::filesystem::path(dir) / "model.safetensors");
}

TEST(AnswerTrainer, WeightOneIsThePlainRunAndOtherWeightsDiffer) {
    const std::string dir = test::makeTempDir("lectern-answer-weight");
    train::TrainOptions plain = options(dir + "/plain", 1.0);
    plain.answerWeight = train::TrainOptions{}.answerWeight;  // no option given
    const std::string a = trainedWeights(dir + "/plain", plain);
    train::TrainOptions one = options(dir + "/one", 1.0);
    const std::string b = trainedWeights(dir + "/one", one);
    train::TrainOptions twenty = options(dir + "/twenty", 20.0);
    const std::string c = trainedWeights(dir + "/twenty", twenty);
    train::TrainOptions zero = options(dir + "/zero", 0.0);
    const std::string d = trainedWeights(dir + "/zero", zero);
    ASSERT_FALSE(a.empty());
    EXPECT_TRUE(a == b) << "--answer-weight 1 changed the weights";
    EXPECT_FALSE(a == c) << "--answer-weight 20 left the weights as they were";
    EXPECT_FALSE(a == d) << "--answer-weight 0 left the weights as they were";
    std::filesystem::remove_all(dir);
}

TEST(AnswerTrainer, NegativeWeightIsRefused) {
    const std::string dir = test::makeTempDir("lectern-answer-weight-neg");
    auto m = test::tinyModel(false, 5);
    ASSERT_TRUE(m) << m.error();
    train::TrainRun r{std::move(*m), {}, train::ByteDataStream::fromBytes(answersCorpus(), 0.2, 3)};
    r.opt = train::adamwInit(r.model.cfg);
    auto rep = train::runTraining(r, options(dir, -1.0));
    EXPECT_FALSE(rep);
    std::filesystem::remove_all(dir);
}

TEST(AnswerTrainer, CheckpointKeepsTheOption) {
    auto m = test::tinyModel(false, 5);
    ASSERT_TRUE(m) << m.error();
    train::TrainRun r{std::move(*m), {}, train::ByteDataStream::fromBytes(answersCorpus(), 0.2, 3)};
    const std::string state = train::trainerStateJson(options("/nonexistent", 12.5), r);
    train::TrainOptions back = options("/nonexistent", 1.0);
    ASSERT_TRUE(train::applyTrainerState(state, back, r, false));
    EXPECT_EQ(back.answerWeight, 12.5);
}

}  // namespace
}  // namespace lectern
