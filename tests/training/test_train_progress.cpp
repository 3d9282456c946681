// The trainer's progress hook (TrainOptions::onProgress, used by the GUI): it sees every
// optimizer step in order with its loss and learning rate, validation losses where the run
// validates, and returning false stops the run cleanly: a checkpoint of the steps done,
// TrainReport::cancelled, and a resumed run that ends where an uninterrupted one ends.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <vector>

#include "engine/random_model.h"
#include "train_fixture.h"
#include "training/checkpoint.h"
#include "training/trainer.h"

namespace lectern {
namespace {

namespace fs = std::filesystem;

train::TrainOptions options(const std::string& out) {
    train::TrainOptions o;
    o.steps = 6, o.seqLen = 24, o.batch = 2, o.warmup = 2, o.lr = 3e-3;
    o.evalEvery = 3, o.evalWindows = 2, o.checkpointEvery = 100, o.seed = 7;
    o.outDir = out, o.progress = false;
    return o;
}

train::TrainRun freshRun(const train::TrainOptions& o) {
    auto r = test::freshTinyRun(o, false, 3);
    EXPECT_TRUE(r) << r.error();
    return std::move(*r);
}

TEST(TrainProgress, HookSeesEveryStepInOrder) {
    const std::string dir = test::makeTempDir("lectern-progress");
    train::TrainOptions o = options(dir);
    std::vector<train::TrainProgress> seen;
    o.onProgress = [&](const train::TrainProgress& p) {
        seen.push_back(p);
        return true;
    };
    train::TrainRun r = freshRun(o);
    auto rep = train::runTraining(r, o);
    ASSERT_TRUE(rep) << rep.error();
    EXPECT_FALSE(rep->cancelled);
    EXPECT_EQ(rep->device, "cpu");
    ASSERT_EQ(seen.size(), 6u);
    for (size_t i = 0; i < seen.size(); ++i) {
        EXPECT_EQ(seen[i].step, int64_t(i) + 1);
        EXPECT_EQ(seen[i].steps, 6);
        EXPECT_TRUE(std::isfinite(seen[i].loss) && seen[i].loss > 0.0);
        EXPECT_GT(seen[i].lr, 0.0);
        EXPECT_GT(seen[i].tokensPerSecond, 0.0);
        EXPECT_GE(seen[i].etaSeconds, 0.0);
        // Validation at steps 3 and 6 (evalEvery 3) only.
        EXPECT_EQ(std::isfinite(seen[i].valLoss), (i + 1) % 3 == 0) << "step " << i + 1;
    }
    EXPECT_EQ(seen.back().etaSeconds, 0.0);
    EXPECT_EQ(seen.back().loss, rep->lastLoss);
    fs::remove_all(dir);
}

TEST(TrainProgress, ReturningFalseStopsWithACheckpointThatResumes) {
    const std::string dir = test::makeTempDir("lectern-cancel");
    // The uninterrupted run.
    const train::TrainOptions oa = options(dir + "/a");
    train::TrainRun a = freshRun(oa);
    auto ra = train::runTraining(a, oa);
    ASSERT_TRUE(ra) << ra.error();

    // Cancelled after step 2 (not a checkpoint step: the cancel writes one).
    train::TrainOptions ob = options(dir + "/b");
    int64_t calls = 0;
    ob.onProgress = [&](const train::TrainProgress& p) {
        ++calls;
        return p.step < 2;
    };
    train::TrainRun b = freshRun(ob);
    auto rb = train::runTraining(b, ob);
    ASSERT_TRUE(rb) << rb.error();
    EXPECT_TRUE(rb->cancelled);
    EXPECT_EQ(rb->stepsDone, 2);
    EXPECT_EQ(calls, 2);
    EXPECT_FALSE(fs::exists(fs::path(dir) / "b" / "model.safetensors"));  // no final folder

    auto c = train::checkpointRead(dir + "/b");
    ASSERT_TRUE(c) << c.error();
    train::TrainOptions oc = options(dir + "/b");
    train::TrainRun r{std::move(c->model), std::move(c->opt),
                      train::ByteDataStream::fromBytes(test::trainCorpus(), 0.2, 999)};
    ASSERT_TRUE(train::applyTrainerState(c->trainerStateJson, oc, r, false));
    EXPECT_EQ(r.step, 2);
    auto rc = train::runTraining(r, oc);
    ASSERT_TRUE(rc) << rc.error();
    EXPECT_FALSE(rc->cancelled);
    EXPECT_EQ(rc->lastLoss, ra->lastLoss);  // the resumed run ends bit for bit where a did
    EXPECT_TRUE(test::fileBytes(fs::path(dir) / "a" / "model.safetensors") ==
                test::fileBytes(fs::path(dir) / "b" / "model.safetensors"));
    fs::remove_all(dir);
}

TEST(TrainProgress, UnknownOrMissingDeviceIsAClearError) {
    const std::string dir = test::makeTempDir("lectern-device");
    train::TrainOptions o = options(dir);
    o.device = "tpu";
    train::TrainRun r = freshRun(o);
    auto rep = train::runTraining(r, o);
    ASSERT_FALSE(rep);
    EXPECT_NE(rep.error().find("unknown device 'tpu'"), std::string::npos) << rep.error();
    fs::remove_all(dir);
}

}  // namespace
}  // namespace lectern
