// Checkpoints and the training loop's guards: an interrupted-and-resumed run ends bit for
// bit where the uninterrupted run ends (weights, AdamW moments, losses); a non-finite
// gradient is reported and skipped and never reaches a checkpoint (NUM-4); a checkpoint
// being written when the process dies leaves the previous one loadable (CRASH-3); AdamW's
// exemptions, update and schedule.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "engine/random_model.h"
#include "train_fixture.h"
#include "training/checkpoint.h"
#include "training/trainer.h"

namespace lectern {
namespace {

namespace fs = std::filesystem;

train::TrainOptions smallOptions(const std::string& out) {
    train::TrainOptions o;
    o.steps = 8, o.seqLen = 32, o.batch = 2, o.accum = 2, o.warmup = 2, o.lr = 3e-3;
    o.evalEvery = 4, o.evalWindows = 2, o.checkpointEvery = 4, o.seed = 11;
    o.outDir = out, o.progress = false;
    return o;
}

train::TrainRun freshRun(const train::TrainOptions& o) {
    auto r = test::freshTinyRun(o, true, 5);
    EXPECT_TRUE(r) << r.error();
    return std::move(*r);
}

TEST(Resume, InterruptedRunEndsBitIdentical) {
    const std::string dir = test::makeTempDir("lectern-resume");
    const train::TrainOptions oa = smallOptions(dir + "/a");
    train::TrainRun a = freshRun(oa);
    auto ra = train::runTraining(a, oa);
    ASSERT_TRUE(ra) << ra.error();
    EXPECT_EQ(ra->stepsDone, 8);

    train::TrainOptions ob = smallOptions(dir + "/b");
    ob.stopAfter = 4;  // the "kill" after step 4's checkpoint
    train::TrainRun b = freshRun(ob);
    ASSERT_TRUE(train::runTraining(b, ob));
    auto c = train::checkpointRead(dir + "/b");
    ASSERT_TRUE(c) << c.error();
    train::TrainOptions oc = smallOptions(dir + "/b");
    train::TrainRun r{std::move(c->model), std::move(c->opt),
                      train::ByteDataStream::fromBytes(test::trainCorpus(), 0.2, 999)};
    ASSERT_TRUE(train::applyTrainerState(c->trainerStateJson, oc, r, false));
    EXPECT_EQ(r.step, 4);
    auto rb = train::runTraining(r, oc);
    ASSERT_TRUE(rb) << rb.error();
    EXPECT_EQ(rb->lastLoss, ra->lastLoss);  // exact, not near
    for (const char* f : {"ckpt-00000008/model.safetensors", "ckpt-00000008/optimizer.safetensors",
                          "model.safetensors"}) {
        const std::string x = test::fileBytes(fs::path(dir) / "a" / f);
        EXPECT_FALSE(x.empty()) << f;
        EXPECT_TRUE(x == test::fileBytes(fs::path(dir) / "b" / f)) << f << " differs";
    }
    fs::remove_all(dir);
}

TEST(Resume, NonFiniteGradientIsSkippedAndNeverCheckpointed) {
    const std::string dir = test::makeTempDir("lectern-nan");
    train::TrainOptions o = smallOptions(dir);
    o.steps = 4;
    o.gradHook = [](int64_t step, model::ModelWeights& g) {
        if (step == 1) g.layers[0].inProj[3] = std::numeric_limits<float>::quiet_NaN();
        if (step == 2) g.normF[0] = std::numeric_limits<float>::infinity();
    };
    train::TrainRun r = freshRun(o);
    auto rep = train::runTraining(r, o);
    ASSERT_TRUE(rep) << rep.error();
    EXPECT_EQ(rep->skipped, 2);
    EXPECT_EQ(rep->stepsDone, 2);
    EXPECT_EQ(r.opt.step, 2);  // AdamW saw only the finite steps
    auto c = train::checkpointRead(dir);
    ASSERT_TRUE(c) << c.error();
    EXPECT_TRUE(train::allFinite(c->model.cfg, c->model.w));
    EXPECT_TRUE(train::allFinite(c->model.cfg, c->opt.v));
    std::ifstream metrics(dir + "/metrics.jsonl");
    std::string line;
    int skippedLines = 0;
    while (std::getline(metrics, line))
        skippedLines += line.find("\"skipped\":true") != std::string::npos;
    EXPECT_EQ(skippedLines, 2);

    // A non-finite weight refuses the checkpoint and leaves `latest` as it was.
    const std::string before = test::fileBytes(fs::path(dir) / "latest");
    r.model.w.embedding[0] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_FALSE(train::checkpointWrite(dir, 99, r.model, r.opt, "{}"));
    EXPECT_EQ(test::fileBytes(fs::path(dir) / "latest"), before);
    EXPECT_FALSE(fs::exists(fs::path(dir) / "ckpt-00000099"));
    fs::remove_all(dir);
}

TEST(Resume, KillDuringCheckpointWriteLeavesLastGoodOne) {
    const std::string dir = test::makeTempDir("lectern-kill");
    train::TrainOptions o = smallOptions(dir);
    o.steps = 4;
    train::TrainRun r = freshRun(o);
    ASSERT_TRUE(train::runTraining(r, o));
    // What a kill mid-write leaves: a half-written .tmp folder (truncated weights).
    const fs::path tmp = fs::path(dir) / "ckpt-00000008.tmp";
    fs::create_directories(tmp);
    const std::string good = test::fileBytes(fs::path(dir) / "ckpt-00000004/model.safetensors");
    std::ofstream(tmp / "model.safetensors", std::ios::binary) << good.substr(0, good.size() / 2);
    auto c = train::checkpointRead(dir);
    ASSERT_TRUE(c) << c.error();
    EXPECT_EQ(fs::path(c->dir).filename(), "ckpt-00000004");
    // The next write of that step replaces the leftover.
    ASSERT_TRUE(train::checkpointWrite(dir, 8, c->model, c->opt, c->trainerStateJson));
    EXPECT_FALSE(fs::exists(tmp));
    auto c2 = train::checkpointRead(dir);
    ASSERT_TRUE(c2) << c2.error();
    EXPECT_EQ(fs::path(c2->dir).filename(), "ckpt-00000008");
    fs::remove_all(dir);
}

TEST(Resume, AccumulationEqualsTheLargerBatch) {
    // Two micro-batches of 2 draw the same windows as one batch of 4, and the gradient is
    // the same mean over them, so one step lands on the same weights up to summation order.
    const std::string dir = test::makeTempDir("lectern-accum");
    model::ModelWeights w[2];
    double norm[2] = {0, 0}, loss[2] = {0, 0};
    for (int k = 0; k < 2; ++k) {
        train::TrainOptions o = smallOptions(dir + "/" + std::to_string(k));
        o.steps = 1, o.evalEvery = 0, o.checkpointEvery = 0;
        o.batch = k == 0 ? 4 : 2, o.accum = k == 0 ? 1 : 2;
        train::TrainRun r = freshRun(o);
        ASSERT_TRUE(train::runTraining(r, o));
        w[k] = r.model.w;
        // Adam's first step is blind to the gradient's scale: compare the logged norm too.
        const std::string m = test::fileBytes(fs::path(o.outDir) / "metrics.jsonl");
        const size_t at = m.find("\"grad_norm\":"), lat = m.find("\"loss\":");
        ASSERT_NE(at, std::string::npos);
        norm[k] = std::stod(m.substr(at + 12));
        loss[k] = std::stod(m.substr(lat + 7));
    }
    EXPECT_NEAR(norm[0], norm[1], 1e-6 * norm[0]);
    EXPECT_NEAR(loss[0], loss[1], 1e-9 * loss[0]);
    const auto cfg = test::tinyModel(true, 5)->cfg;
    auto a = train::namedParams(cfg, w[0]), b = train::namedParams(cfg, w[1]);
    for (size_t i = 0; i < a.size(); ++i)
        for (size_t j = 0; j < a[i].data->size(); ++j)
            ASSERT_NEAR((*a[i].data)[j], (*b[i].data)[j], 1e-6) << a[i].name << "[" << j << "]";
    fs::remove_all(dir);
}

TEST(AdamW, ExemptionsUpdateAndSchedule) {
    for (const char* n : {"backbone.layers.0.mixer.dt_bias", "backbone.layers.1.mixer.D",
                          "backbone.layers.0.norm.weight", "backbone.norm_f.weight",
                          "backbone.layers.0.mixer.B_bias", "backbone.layers.0.mixer.C_norm.weight",
                          "backbone.layers.0.mixer.norm.weight", "backbone.layers.0.norm2.weight"})
        EXPECT_TRUE(train::noWeightDecay(n)) << n;
    for (const char* n :
         {"backbone.embedding.weight", "backbone.layers.0.mixer.in_proj.weight",
          "backbone.layers.0.mixer.out_proj.weight", "backbone.layers.0.mixer.mimo_x",
          "lm_head.weight", "backbone.layers.0.mlp.fc1.weight"})
        EXPECT_FALSE(train::noWeightDecay(n)) << n;

    auto m = test::tinyModel(false, 3);
    ASSERT_TRUE(m);
    model::ModelWeights g = train::zerosLike(m->cfg);
    train::AdamWState s = train::adamwInit(m->cfg);
    const float w0 = m->w.embedding[0], d0 = m->w.layers[0].D[0];
    g.embedding[0] = 0.5f;
    g.layers[0].D[0] = -2.0f;
    const train::AdamWConfig c;
    train::adamw_update(m->cfg, c, 0.01, m->w, g, s);
    // Step 1: m̂ = g, v̂ = g², so the step is lr·(sign(g)·|g|/(|g| + eps) + wd·w).
    EXPECT_NEAR(m->w.embedding[0], w0 - 0.01 * (0.5 / (0.5 + 1e-8) + 0.1 * w0), 1e-7);
    EXPECT_NEAR(m->w.layers[0].D[0], d0 - 0.01 * (-2.0 / (2.0 + 1e-8)), 1e-7);  // no decay

    EXPECT_DOUBLE_EQ(train::lrAt(0, 10, 100, 1.0, 0.1), 0.1);
    EXPECT_DOUBLE_EQ(train::lrAt(9, 10, 100, 1.0, 0.1), 1.0);
    EXPECT_DOUBLE_EQ(train::lrAt(10, 10, 100, 1.0, 0.1), 1.0);
    EXPECT_NEAR(train::lrAt(55, 10, 100, 1.0, 0.1), 0.55, 1e-12);
    EXPECT_NEAR(train::lrAt(100, 10, 100, 1.0, 0.1), 0.1, 1e-12);
}

TEST(Schedule, WarmupStableDecay) {
    // 10 warm-up steps, stable to step 80, linear decay over the last 20% to 0.1 at 100.
    EXPECT_DOUBLE_EQ(train::lrWsd(0, 10, 100, 0.2, 1.0, 0.1), 0.1);
    EXPECT_DOUBLE_EQ(train::lrWsd(9, 10, 100, 0.2, 1.0, 0.1), 1.0);
    EXPECT_DOUBLE_EQ(train::lrWsd(50, 10, 100, 0.2, 1.0, 0.1), 1.0);
    EXPECT_DOUBLE_EQ(train::lrWsd(80, 10, 100, 0.2, 1.0, 0.1), 1.0);
    EXPECT_NEAR(train::lrWsd(90, 10, 100, 0.2, 1.0, 0.1), 0.55, 1e-12);
    EXPECT_NEAR(train::lrWsd(100, 10, 100, 0.2, 1.0, 0.1), 0.1, 1e-12);
    // Decay longer than the run after warm-up: decay starts when warm-up ends.
    EXPECT_DOUBLE_EQ(train::lrWsd(10, 10, 20, 1.0, 1.0, 0.0), 1.0);
    EXPECT_NEAR(train::lrWsd(15, 10, 20, 1.0, 1.0, 0.0), 0.5, 1e-12);
    // No decay at all: stable to the end.
    EXPECT_DOUBLE_EQ(train::lrWsd(99, 10, 100, 0.0, 1.0, 0.1), 1.0);
}

}  // namespace
}  // namespace lectern
