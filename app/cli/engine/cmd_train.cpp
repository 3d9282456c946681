// `lectern-cli train --config FILE | --base DIR, --text FILE..., --out DIR, [--steps N]
// [--seq-len L] [--batch B] [--lr X] [--device cpu] [--resume DIR]`: trains on byte-level
// tokens of the text files (ids 0..255; no tokenizer yet), showing step, loss, tokens/s and
// ETA, logging OUT/metrics.jsonl, checkpointing into OUT/ckpt-<step> and writing the final
// model folder into OUT. --resume OUT (or a ckpt folder) continues bit for bit.
#include <cmath>
#include <cstdio>

#include "cli/command.h"
#include "training/checkpoint.h"
#include "training/params.h"
#include "training/trainer.h"

namespace lectern::cli {
namespace {

struct TrainArgs {
    std::string config, base, out, resume, device = "cpu";
    std::vector<std::string> texts;
    train::TrainOptions o;
    bool stepsGiven = false;
};

int fail(const std::string& message) {
    std::fprintf(stderr, "lectern-cli train: %s\n", message.c_str());
    return kExitFailure;
}

Status prepare(TrainArgs& a, train::TrainRun& run) {
    if (!a.resume.empty()) {
        auto c = train::checkpointRead(a.resume);
        if (!c) return c.status();
        run.model = std::move(c->model);
        run.opt = std::move(c->opt);
        if (Status st = train::applyTrainerState(c->trainerStateJson, a.o, run, a.stepsGiven); !st)
            return st.withContext(c->dir);
        const std::string position = run.data.saveState();
        if (!a.texts.empty()) run.texts = a.texts;
        auto data = train::ByteDataStream::fromFiles(run.texts, a.o.valFraction, a.o.seed);
        if (!data) return data.status();
        run.data = std::move(*data);
        std::fprintf(stderr, "resuming %s at step %lld\n", c->dir.c_str(), (long long)run.step);
        return run.data.loadState(position);
    }
    if (a.config.empty() == a.base.empty()) return Status::error("give either --config or --base");
    auto m =
        a.base.empty() ? train::newTrainModel(a.config, a.o.seed) : train::loadTrainModel(a.base);
    if (!m) return m.status();
    run.model = std::move(*m);
    run.opt = train::adamwInit(run.model.cfg);
    run.texts = a.texts;
    auto data = train::ByteDataStream::fromFiles(a.texts, a.o.valFraction, a.o.seed);
    if (!data) return data.status();
    run.data = std::move(*data);
    return Status::ok();
}

int runTrain(TrainArgs& a) {
    if (a.device != "cpu") return fail("the CUDA training step is not built yet; use --device cpu");
    if (a.texts.empty() && a.resume.empty()) return fail("give --text FILE...");
    train::TrainRun run;
    if (Status st = prepare(a, run); !st) return fail(st.message());
    a.o.outDir = a.out;
    auto rep = train::runTraining(run, a.o);
    if (!rep) return fail(rep.error());
    char val[96] = "no validation window (text too short for --seq-len)";
    if (std::isfinite(rep->valLoss))
        std::snprintf(val, sizeof val, "validation loss %.4f (%.3f bits/byte)", rep->valLoss,
                      rep->valLoss / std::log(2.0));
    std::printf("trained %lld steps (%lld skipped): loss %.4f, %s, %.0f tokens/s; model in %s\n",
                (long long)rep->stepsDone, (long long)rep->skipped, rep->lastLoss, val,
                rep->tokensPerSecond, a.out.c_str());
    return kExitOk;
}

const CommandRegistration registration{{
    "train",
    "Train or fine-tune a Mamba-3 model on text files (byte-level tokens), on the CPU",
    [](CLI::App& sub, const GlobalOptions&) -> std::function<int()> {
        auto a = std::make_shared<TrainArgs>();
        sub.add_option("--config", a->config, "config.json of a new model (random init)");
        sub.add_option("--base", a->base, "model folder to fine-tune");
        sub.add_option("--text", a->texts, "text files (each one document)");
        sub.add_option("--out", a->out, "output folder (checkpoints, metrics, final model)")
            ->required();
        sub.add_option("--steps", a->o.steps, "optimizer steps")->each([a](const std::string&) {
            a->stepsGiven = true;
        });
        sub.add_option("--seq-len", a->o.seqLen, "tokens per sequence");
        sub.add_option("--batch", a->o.batch, "sequences per micro-batch");
        sub.add_option("--accum", a->o.accum, "micro-batches per step (gradient accumulation)");
        sub.add_option("--lr", a->o.lr, "peak learning rate");
        sub.add_option("--warmup", a->o.warmup, "warm-up steps");
        sub.add_option("--clip", a->o.clip, "gradient clipping norm (0: off)");
        sub.add_option("--weight-decay", a->o.adamw.weightDecay, "AdamW weight decay");
        sub.add_option("--eval-every", a->o.evalEvery, "validate every N steps");
        sub.add_option("--checkpoint-every", a->o.checkpointEvery, "checkpoint every N steps");
        sub.add_option("--seed", a->o.seed, "seed of the init and of the data order");
        sub.add_option("--resume", a->resume, "continue from OUT folder or ckpt folder");
        sub.add_option("--device", a->device, "cpu (cuda: not yet)")
            ->check(CLI::IsMember({"cpu", "cuda"}));
        return [a] { return runTrain(*a); };
    },
}};

}  // namespace
}  // namespace lectern::cli
