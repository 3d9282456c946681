// LoRA (training/lora/lora.h): the merged weight acts as base + adapter on any input; the
// adapters' gradients (through the merge) match central finite differences of the loss;
// a LoRA training run leaves the base weights bit for bit unchanged, writes adapters that
// read back, a final model that equals base + adapters, and checkpoints that hold the
// adapters and a reference to the base (no copy of it) and resume bit for bit; a changed
// base is refused, older checkpoints with a base copy still resume, a kill mid-write leaves
// the last good checkpoint (CRASH-3) and a non-finite gradient is skipped (NUM-4).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "engine/random_model.h"
#include "ops/linear.h"
#include "train_fixture.h"
#include "training/checkpoint.h"
#include "training/model_train.h"
#include "training/trainer.h"

namespace lectern {
namespace {

namespace fs = std::filesystem;
using V = std::vector<float>;

// A tiny SISO model WITH an MLP, so every target module exists.
train::TrainModel mlpModel(uint64_t seed) {
    const std::string text =
        "{\"d_model\": 32, \"d_intermediate\": 48, \"n_layer\": 2, \"vocab_size\": 256, "
        "\"ssm_cfg\": {\"layer\": \"Mamba3\", \"d_state\": 16, \"headdim\": 16, "
        "\"chunk_size\": 64}, \"rms_norm\": true, \"residual_in_fp32\": true, "
        "\"fused_add_norm\": true, \"pad_vocab_size_multiple\": 8, \"tie_embeddings\": true}";
    auto cfg = model::configParse(text, "mlp config");
    EXPECT_TRUE(cfg) << cfg.error();
    return train::TrainModel{*cfg, train::initWeights(*cfg, seed), text};
}

train::LoraConfig allTargets() {
    train::LoraConfig c;
    c.rank = 3, c.alpha = 6.0, c.targets = {"in_proj", "out_proj", "mlp"};
    return c;
}

void randomize(train::LoraAdapters& a, uint64_t seed, float scale) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> n(0.0f, scale);
    for (train::LoraTarget& t : a.targets)
        std::generate(t.B.begin(), t.B.end(), [&] { return n(rng); });
}

std::vector<float>* tensor(train::TrainModel& m, model::ModelWeights& w, const std::string& name) {
    for (train::NamedTensor& t : train::namedParams(m.cfg, w))
        if (t.name == name) return t.data;
    return nullptr;
}

TEST(Lora, InitCoversTargetsAndRefusesUnknownOnes) {
    train::TrainModel m = mlpModel(3);
    auto a = train::loraInit(m.cfg, allTargets(), 1);
    ASSERT_TRUE(a) << a.error();
    EXPECT_EQ(a->targets.size(), 8u);  // 2 layers × (in_proj, out_proj, fc1, fc2)
    for (const train::LoraTarget& t : a->targets)
        EXPECT_TRUE(std::all_of(t.B.begin(), t.B.end(), [](float x) { return x == 0.0f; }));
    train::LoraConfig bad = allTargets();
    bad.targets = {"q_proj"};
    EXPECT_FALSE(train::loraInit(m.cfg, bad, 1));
    auto noMlp = test::tinyModel(false, 2);
    ASSERT_TRUE(noMlp);
    bad.targets = {"fc1"};
    auto e = train::loraInit(noMlp->cfg, bad, 1);
    ASSERT_FALSE(e);
    EXPECT_NE(e.error().find("fc1"), std::string::npos) << e.error();
}

TEST(Lora, MergedEqualsBasePlusAdapterOutput) {
    train::TrainModel m = mlpModel(4);
    auto a = train::loraInit(m.cfg, allTargets(), 2);
    ASSERT_TRUE(a);
    // B = 0: merging changes nothing, bit for bit.
    model::ModelWeights merged;
    train::loraMerge(m.cfg, m.w, *a, merged);
    for (const train::LoraTarget& t : a->targets)
        EXPECT_EQ(*tensor(m, merged, t.name), *tensor(m, m.w, t.name)) << t.name;
    randomize(*a, 5, 0.05f);
    train::loraMerge(m.cfg, m.w, *a, merged);
    std::mt19937_64 rng(6);
    std::normal_distribution<float> n(0.0f, 1.0f);
    const int64_t rows = 5, r = a->cfg.rank;
    for (const train::LoraTarget& t : a->targets) {
        V x(size_t(rows * t.in)), viaMerged(size_t(rows * t.out)), viaBase(viaMerged.size());
        V low(size_t(rows * r)), side(viaMerged.size());
        std::generate(x.begin(), x.end(), [&] { return n(rng); });
        cpu::linear_forward(viaMerged.data(), x.data(), tensor(m, merged, t.name)->data(), rows,
                            t.in, t.out);
        cpu::linear_forward(viaBase.data(), x.data(), tensor(m, m.w, t.name)->data(), rows, t.in,
                            t.out);
        cpu::linear_forward(low.data(), x.data(), t.A.data(), rows, t.in, r);  // x·Aᵀ
        cpu::linear_forward(side.data(), low.data(), t.B.data(), rows, r, t.out);
        double worst = 0.0, scale = 0.0;
        for (size_t i = 0; i < side.size(); ++i) {
            const double want = double(viaBase[i]) + a->cfg.scale() * side[i];
            worst = std::max(worst, std::abs(viaMerged[i] - want));
            scale = std::max(scale, std::abs(want));
        }
        EXPECT_LT(worst, 1e-5 * std::max(1.0, scale)) << t.name;
    }
}

double lossOf(train::TrainModel& m, const train::LoraAdapters& a, const std::vector<int32_t>& ids,
              int64_t B, int64_t L, model::ModelWeights* grads) {
    model::ModelWeights merged;
    train::loraMerge(m.cfg, m.w, a, merged);
    return train::loss_and_grads(m.cfg, merged, ids.data(), B, L, grads, 1.0);
}

TEST(Lora, AdapterGradientsMatchFiniteDifferences) {
    train::TrainModel m = mlpModel(7);
    auto a = train::loraInit(m.cfg, allTargets(), 8);
    ASSERT_TRUE(a);
    randomize(*a, 9, 0.2f);  // B ≠ 0, so dA ≠ 0 too
    const int64_t B = 1, L = 12;
    std::mt19937_64 rng(10);
    std::vector<int32_t> ids(size_t(B * L));
    for (int32_t& i : ids) i = int32_t(rng() % 256);
    model::ModelWeights g = train::zerosLike(m.cfg);
    lossOf(m, *a, ids, B, L, &g);
    train::loraGrads(m.cfg, g, *a);
    // The summed loss in fp32 forwards, Richardson-extrapolated central differences (as
    // test_grad_fd_model), bar 2e-2 of the tensor's largest gradient. The step is 2e-3, not
    // 1e-2: one entry of A moves a whole column of W (s·B[:, i]), far from linear at 1e-2.
    const double h = 2e-3;
    for (size_t ti : {size_t(0), size_t(3), size_t(5)}) {
        for (bool isB : {false, true}) {
            train::LoraTarget& t = a->targets[ti];
            V& p = isB ? t.B : t.A;
            const V& an = isB ? t.gB : t.gA;
            double big = 0.5;
            for (float x : an) big = std::max(big, double(std::abs(x)));
            for (int s = 0; s < 4; ++s) {
                const size_t j = size_t(rng() % p.size());
                const float keep = p[j];
                auto at = [&](double d) {
                    p[j] = float(keep + d);
                    const double l = lossOf(m, *a, ids, B, L, nullptr);
                    p[j] = keep;
                    return l;
                };
                const double d1 = (at(h) - at(-h)) / (2 * h);
                const double d2 = (at(2 * h) - at(-2 * h)) / (4 * h);
                const double fd = (4 * d1 - d2) / 3;
                EXPECT_NEAR(an[j], fd, 2e-2 * big) << t.name << (isB ? " B[" : " A[") << j << "]";
            }
        }
    }
}

train::TrainOptions loraOptions(const std::string& out) {
    train::TrainOptions o;
    o.steps = 6, o.seqLen = 24, o.batch = 2, o.warmup = 1, o.lr = 1e-2;
    o.evalEvery = 3, o.evalWindows = 2, o.checkpointEvery = 3, o.seed = 5;
    o.outDir = out, o.progress = false;
    return o;
}

// The base model as a folder on disk (what `train --base` names), written once per test.
std::string writeBase(const std::string& dir) {
    train::TrainModel m = mlpModel(11);
    EXPECT_TRUE(train::writeModelDir(dir, m));
    return dir;
}

// A LoRA run on the base folder; withRef: checkpoints name the base (the default of
// `train --lora`), else they hold a copy of it (the older layout, still resumable).
train::TrainRun loraRun(const train::TrainOptions& o, const std::string& baseDir,
                        bool withRef = true) {
    auto m = train::loadTrainModel(baseDir);
    EXPECT_TRUE(m) << m.error();
    train::TrainRun r{
        std::move(*m), {}, train::ByteDataStream::fromBytes(test::trainCorpus(), 0.2, o.seed)};
    r.opt = train::adamwInit(r.model.cfg);
    auto a = train::loraInit(r.model.cfg, allTargets(), o.seed);
    EXPECT_TRUE(a);
    r.lora = std::move(*a);
    if (withRef) {
        auto ref = train::loraBaseRef(baseDir);
        EXPECT_TRUE(ref) << ref.error();
        r.loraBase = *ref;
    }
    return r;
}

// What `train --resume OUT` does: the checkpoint (the base loaded from its reference, or
// its copy), the adapters beside it, the trainer state.
Expected<train::TrainRun> resumeRun(const std::string& out, train::TrainOptions& o) {
    auto c = train::checkpointRead(out);
    if (!c) return c.status();
    train::TrainRun r{std::move(c->model), std::move(c->opt),
                      train::ByteDataStream::fromBytes(test::trainCorpus(), 0.2, 999)};
    if (!train::loraPresent(c->dir)) return Status::error(c->dir + ": no adapters");
    auto lr = train::loraRead(c->dir, r.model.cfg);
    if (!lr) return lr.status();
    r.lora = std::move(*lr);
    if (Status st = train::applyTrainerState(c->trainerStateJson, o, r, false); !st) return st;
    return r;
}

TEST(Lora, TrainingChangesOnlyAdaptersAndResumesBitIdentical) {
    const std::string dir = test::makeTempDir("lectern-lora");
    const std::string baseDir = writeBase(dir + "/base");
    const train::TrainOptions oa = loraOptions(dir + "/a");
    train::TrainRun a = loraRun(oa, baseDir);
    const model::ModelWeights base = a.model.w;  // the base, before training
    auto ra = train::runTraining(a, oa);
    ASSERT_TRUE(ra) << ra.error();
    EXPECT_EQ(ra->stepsDone, 6);
    model::ModelWeights copy = base;
    for (train::NamedTensor& t : train::namedParams(a.model.cfg, a.model.w))
        EXPECT_EQ(*t.data, *tensor(a.model, copy, t.name)) << t.name << " changed";
    bool moved = false;
    for (const train::LoraTarget& t : a.lora->targets)
        moved |= std::any_of(t.B.begin(), t.B.end(), [](float x) { return x != 0.0f; });
    EXPECT_TRUE(moved);

    // OUT: the merged model (what the engine loads) and the adapters beside it.
    auto out = train::loadTrainModel(dir + "/a");
    ASSERT_TRUE(out) << out.error();
    auto back = train::loraRead(dir + "/a", out->cfg);
    ASSERT_TRUE(back) << back.error();
    model::ModelWeights merged;
    train::loraMerge(a.model.cfg, a.model.w, *back, merged);
    for (train::NamedTensor& t : train::namedParams(out->cfg, out->w))
        EXPECT_EQ(*t.data, *tensor(a.model, merged, t.name)) << t.name;

    // A checkpoint holds the adapters, their moments and the base's reference: no weights.
    const fs::path ck = fs::path(dir) / "a" / "ckpt-00000006";
    for (const char* f : {"adapter_config.json", "adapter_model.safetensors",
                          "adapter_optimizer.safetensors", "trainer_state.json", "lora_base.json"})
        EXPECT_TRUE(fs::exists(ck / f)) << f;
    for (const char* f : {"model.safetensors", "optimizer.safetensors"})
        EXPECT_FALSE(fs::exists(ck / f)) << f << " (a copy of the base) in a LoRA checkpoint";

    // Stop after 3 steps, resume from the checkpoint: the same losses and adapters at the end.
    train::TrainOptions ob = loraOptions(dir + "/b");
    ob.stopAfter = 3;
    train::TrainRun b = loraRun(ob, baseDir);
    ASSERT_TRUE(train::runTraining(b, ob));
    train::TrainOptions oc = loraOptions(dir + "/b");
    auto r = resumeRun(dir + "/b", oc);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->step, 3);
    EXPECT_EQ(r->loraBase.dir, a.loraBase.dir);  // the resumed run keeps naming the base
    for (train::NamedTensor& t : train::namedParams(r->model.cfg, r->model.w))
        EXPECT_EQ(*t.data, *tensor(a.model, copy, t.name)) << t.name << ": not the base";
    auto rb = train::runTraining(*r, oc);
    ASSERT_TRUE(rb) << rb.error();
    EXPECT_EQ(rb->lastLoss, ra->lastLoss);  // exact, not near
    for (const char* f :
         {"adapter_model.safetensors", "model.safetensors",
          "ckpt-00000006/adapter_optimizer.safetensors", "ckpt-00000006/adapter_model.safetensors"})
        EXPECT_TRUE(test::fileBytes(fs::path(dir) / "a" / f) ==
                    test::fileBytes(fs::path(dir) / "b" / f))
            << f << " differs";
    EXPECT_FALSE(fs::exists(fs::path(dir) / "b" / "ckpt-00000006" / "model.safetensors"));
    fs::remove_all(dir);
}

TEST(Lora, ResumeRefusesAChangedOrMissingBase) {
    const std::string dir = test::makeTempDir("lectern-lora-base");
    const std::string baseDir = writeBase(dir + "/base");
    train::TrainOptions o = loraOptions(dir + "/out");
    o.stopAfter = 3;
    train::TrainRun run = loraRun(o, baseDir);
    ASSERT_TRUE(train::runTraining(run, o));
    // Another model in the base's folder: refused, naming the folder and both hashes.
    train::TrainModel other = mlpModel(12);
    ASSERT_TRUE(train::writeModelDir(baseDir, other));
    train::TrainOptions o2 = loraOptions(dir + "/out");
    auto r = resumeRun(dir + "/out", o2);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("not the one this run started from"), std::string::npos) << r.error();
    EXPECT_NE(r.error().find(baseDir), std::string::npos) << r.error();
    // The base gone: refused, naming what is missing.
    fs::remove_all(baseDir);
    auto gone = resumeRun(dir + "/out", o2);
    ASSERT_FALSE(gone);
    EXPECT_NE(gone.error().find("model.safetensors"), std::string::npos) << gone.error();
    fs::remove_all(dir);
}

TEST(Lora, OldCheckpointsWithABaseCopyStillResume) {
    // Without a base reference (the older layout) the checkpoint holds the base beside the
    // adapters, reads as any checkpoint, and resumes to the same end as the new layout.
    const std::string dir = test::makeTempDir("lectern-lora-old");
    const std::string baseDir = writeBase(dir + "/base");
    const train::TrainOptions oa = loraOptions(dir + "/a");
    train::TrainRun a = loraRun(oa, baseDir);
    auto ra = train::runTraining(a, oa);
    ASSERT_TRUE(ra) << ra.error();
    train::TrainOptions ob = loraOptions(dir + "/b");
    ob.stopAfter = 3;
    train::TrainRun b = loraRun(ob, baseDir, false);
    ASSERT_TRUE(train::runTraining(b, ob));
    EXPECT_TRUE(fs::exists(fs::path(dir) / "b" / "ckpt-00000003" / "model.safetensors"));
    EXPECT_FALSE(fs::exists(fs::path(dir) / "b" / "ckpt-00000003" / "lora_base.json"));
    train::TrainOptions oc = loraOptions(dir + "/b");
    auto r = resumeRun(dir + "/b", oc);
    ASSERT_TRUE(r) << r.error();
    auto rb = train::runTraining(*r, oc);
    ASSERT_TRUE(rb) << rb.error();
    EXPECT_EQ(rb->lastLoss, ra->lastLoss);
    EXPECT_TRUE(test::fileBytes(fs::path(dir) / "a" / "adapter_model.safetensors") ==
                test::fileBytes(fs::path(dir) / "b" / "adapter_model.safetensors"));
    fs::remove_all(dir);
}

TEST(Lora, RunWithoutBaseReferenceOrOptimizerStateCheckpoints) {
    // A LoRA TrainRun built with neither loraBase nor run.opt (the full model's moments,
    // unused by LoRA): the fallback checkpoint (a base copy) still writes and reads back.
    // (This crashed once: the copy's optimizer file was written from the empty state.)
    const std::string dir = test::makeTempDir("lectern-lora-noref");
    const std::string baseDir = writeBase(dir + "/base");
    train::TrainOptions o = loraOptions(dir + "/out");
    o.steps = 2, o.evalEvery = 0, o.checkpointEvery = 0;
    train::TrainRun run = loraRun(o, baseDir, false);
    run.opt = train::AdamWState{};
    auto rep = train::runTraining(run, o);
    ASSERT_TRUE(rep) << rep.error();
    auto c = train::checkpointRead(dir + "/out");
    ASSERT_TRUE(c) << c.error();
    EXPECT_TRUE(train::loraPresent(c->dir));
    fs::remove_all(dir);
}

TEST(Lora, KillDuringACheckpointWriteLeavesTheLastGoodOne) {
    // CRASH-3 for the adapter-only layout: what a kill mid-write leaves (a .tmp folder with
    // a truncated adapter file) is ignored; `latest` still names a loadable checkpoint.
    const std::string dir = test::makeTempDir("lectern-lora-kill");
    const std::string baseDir = writeBase(dir + "/base");
    train::TrainOptions o = loraOptions(dir + "/out");
    o.stopAfter = 3;
    train::TrainRun run = loraRun(o, baseDir);
    ASSERT_TRUE(train::runTraining(run, o));
    const fs::path out = fs::path(dir) / "out";
    const fs::path tmp = out / "ckpt-00000006.tmp";
    fs::create_directories(tmp);
    const std::string good = test::fileBytes(out / "ckpt-00000003/adapter_model.safetensors");
    std::ofstream(tmp / "adapter_model.safetensors", std::ios::binary)
        << good.substr(0, good.size() / 2);
    train::TrainOptions o2 = loraOptions(dir + "/out");
    auto r = resumeRun(out.string(), o2);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->step, 3);
    // Resuming writes step 6 over the leftover.
    ASSERT_TRUE(train::runTraining(*r, o2));
    EXPECT_FALSE(fs::exists(tmp));
    auto c = train::checkpointRead(out.string());
    ASSERT_TRUE(c) << c.error();
    EXPECT_EQ(fs::path(c->dir).filename(), "ckpt-00000006");
    fs::remove_all(dir);
}

TEST(Lora, NonFiniteAdapterGradientIsSkippedAndNeverCheckpointed) {
    // NUM-4: a NaN in a target's gradient reaches dA/dB through the merge; the step is
    // skipped and the adapters and moments stay finite.
    const std::string dir = test::makeTempDir("lectern-lora-nan");
    const std::string baseDir = writeBase(dir + "/base");
    train::TrainOptions o = loraOptions(dir + "/out");
    o.steps = 4, o.checkpointEvery = 2;
    train::TrainRun run = loraRun(o, baseDir);
    const std::string target = run.lora->targets[0].name;
    o.gradHook = [&](int64_t step, model::ModelWeights& g) {
        if (step == 1) (*tensor(run.model, g, target))[7] = std::nanf("");
    };
    auto rep = train::runTraining(run, o);
    ASSERT_TRUE(rep) << rep.error();
    EXPECT_EQ(rep->skipped, 1);
    EXPECT_EQ(run.lora->step, 3);  // AdamW saw only the finite steps
    EXPECT_TRUE(train::loraAllFinite(*run.lora));
    auto c = train::checkpointRead(dir + "/out");
    ASSERT_TRUE(c) << c.error();
    auto back = train::loraRead(c->dir, c->model.cfg);
    ASSERT_TRUE(back) << back.error();
    EXPECT_TRUE(train::loraAllFinite(*back));
    EXPECT_EQ(back->step, 3);
    fs::remove_all(dir);
}

}  // namespace
}  // namespace lectern
