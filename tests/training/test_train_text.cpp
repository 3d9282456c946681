// A tiny model trained from scratch on a small real text (the GPL-3 licence) for a few
// hundred CPU steps must reach a validation loss well below the text's unigram entropy,
// the loss of the best model that ignores context. Honest bound: the held-out tail of the
// text, scored after training, at least 0.4 nats/byte under the training part's unigram
// entropy (which is itself optimistic for a unigram model on unseen text).
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "engine/random_model.h"
#include "train_fixture.h"
#include "training/trainer.h"

namespace lectern {
namespace {

double unigramEntropy(const std::vector<int32_t>& tokens) {
    std::map<int32_t, double> counts;
    for (int32_t t : tokens) counts[t] += 1.0;
    double h = 0.0;
    for (auto& [t, c] : counts)
        h -= c / double(tokens.size()) * std::log(c / double(tokens.size()));
    return h;
}

TEST(TrainText, TinyModelBeatsUnigramEntropy) {
    const std::string text = test::licenceText("GPL-3");
    if (text.size() < 20000) GTEST_SKIP() << "no /usr/share/common-licenses/GPL-3";
    const std::string dir = test::makeTempDir("lectern-train-text");
    train::TrainOptions o;
    o.steps = 400, o.seqLen = 128, o.batch = 4, o.warmup = 20, o.lr = 4e-3;
    o.evalEvery = 0, o.evalWindows = 24, o.checkpointEvery = 0, o.seed = 1, o.progress = false;
    o.outDir = dir;
    auto m = test::tinyModel(false, 1);
    ASSERT_TRUE(m) << m.error();
    train::TrainRun run{std::move(*m), {}, train::ByteDataStream::fromBytes(text, 0.1, o.seed)};
    run.opt = train::adamwInit(run.model.cfg);
    const double entropy = unigramEntropy(run.data.train());
    const train::EvalResult before =
        train::evaluate(run.model.cfg, run.model.w, run.data.validation(), o.seqLen, o.evalWindows);
    auto rep = train::runTraining(run, o);
    ASSERT_TRUE(rep) << rep.error();
    std::printf(
        "  unigram entropy %.3f nats/byte; validation loss %.3f before, %.3f after "
        "(%lld tokens predicted); train loss %.3f; %.0f tokens/s\n",
        entropy, before.loss, rep->valLoss, (long long)before.predicted, rep->lastLoss,
        rep->tokensPerSecond);
    EXPECT_GT(before.loss, entropy);
    EXPECT_LT(rep->valLoss, entropy - 0.4);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lectern
