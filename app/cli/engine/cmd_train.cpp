// `lectern-cli train --config FILE | --base DIR, --text FILE..., --out DIR, [--steps N]
// [--seq-len L] [--batch B] [--lr X] [--schedule cosine|wsd] [--lora R]
// [--device cpu|cuda|auto] [--precision fp32|tf32|bf16] [--window-start-after BYTE]
// [--resume DIR]`: trains on byte-level tokens of the text files (ids 0..255; no tokenizer
// yet), showing step, loss, tokens/s and ETA, logging OUT/metrics.jsonl, checkpointing into
// OUT/ckpt-<step> and writing the final model folder into OUT. --resume OUT (or a ckpt folder)
// continues bit for bit.
#include <cmath>
#include <cstdio>

#include "cli/command.h"
#include "cli/engine/train_collection_loader.h"
#include "training/checkpoint.h"
#include "training/params.h"
#include "training/trainer.h"

namespace lectern::cli {
namespace {

struct TrainArgs {
    std::string config, base, out, resume, device = "cpu", collection, store;
    std::vector<std::string> texts;
    train::TrainOptions o;
    bool stepsGiven = false;
    int loraRank = 0;
    double loraAlpha = 0.0;  // 0: twice the rank
    std::vector<std::string> loraTargets{"in_proj", "out_proj"};
};

// The data: the --text files, or the documents of a store collection split by document.
Expected<train::ByteDataStream> loadData(const train::TrainRun& run, const train::TrainOptions& o) {
    if (run.collection.empty())
        return train::ByteDataStream::fromFiles(run.texts, o.valFraction, o.seed,
                                                o.windowStartAfter);
    if (o.windowStartAfter >= 0)
        return Status::error("--window-start-after applies to --text files, not a collection");
    if (!cli::collectionLoader())
        return Status::error("this lectern-cli was built without the store; --collection needs it");
    auto docs = cli::collectionLoader()(run.store, run.collection);
    if (!docs) return docs.status();
    auto data = train::ByteDataStream::fromDocuments(*docs, o.valFraction, o.seed);
    if (data)
        std::fprintf(stderr, "collection '%s': %zu documents (%lld for validation)\n",
                     run.collection.c_str(), docs->size(), (long long)data->validationDocuments());
    return data;
}

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
        if (train::loraPresent(c->dir)) {
            auto lora = train::loraRead(c->dir, run.model.cfg);
            if (!lora) return lora.status();
            run.lora = std::move(*lora);
        }
        if (Status st = train::applyTrainerState(c->trainerStateJson, a.o, run, a.stepsGiven); !st)
            return st.withContext(c->dir);
        const std::string position = run.data.saveState();
        if (!a.texts.empty()) run.texts = a.texts, run.collection.clear();
        if (!a.collection.empty()) run.collection = a.collection, run.store = a.store;
        auto data = loadData(run, a.o);
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
    if (a.loraRank > 0) {
        if (a.base.empty()) return Status::error("--lora fine-tunes a --base model");
        train::LoraConfig lc;
        lc.rank = a.loraRank;
        lc.alpha = a.loraAlpha > 0.0 ? a.loraAlpha : 2.0 * a.loraRank;
        lc.targets = a.loraTargets;
        auto lora = train::loraInit(run.model.cfg, lc, a.o.seed);
        if (!lora) return lora.status();
        run.lora = std::move(*lora);
        // Checkpoints name the base (and the hash of its weights) instead of copying it.
        auto ref = train::loraBaseRef(a.base);
        if (!ref) return ref.status();
        run.loraBase = std::move(*ref);
    }
    run.texts = a.texts;
    run.collection = a.collection, run.store = a.store;
    auto data = loadData(run, a.o);
    if (!data) return data.status();
    run.data = std::move(*data);
    if (a.o.windowStartAfter >= 0)
        std::fprintf(stderr, "--window-start-after %d: %lld example starts\n", a.o.windowStartAfter,
                     (long long)run.data.exampleStarts());
    return Status::ok();
}

int runTrain(TrainArgs& a) {
    if (a.texts.empty() && a.collection.empty() && a.resume.empty())
        return fail("give --text FILE... or --collection NAME");
    if (!a.texts.empty() && !a.collection.empty())
        return fail("give either --text or --collection, not both");
    train::TrainRun run;
    if (Status st = prepare(a, run); !st) return fail(st.message());
    a.o.outDir = a.out;
    a.o.device = a.device;
    auto rep = train::runTraining(run, a.o);
    if (!rep) return fail(rep.error());
    char val[96] = "no validation window (text too short for --seq-len)";
    if (std::isfinite(rep->valLoss))
        std::snprintf(val, sizeof val, "validation loss %.4f (%.3f bits/byte)", rep->valLoss,
                      rep->valLoss / std::log(2.0));
    std::printf(
        "trained %lld steps (%lld skipped) on the %s: loss %.4f, %s, %.0f tokens/s; model in %s\n",
        (long long)rep->stepsDone, (long long)rep->skipped, rep->device == "cuda" ? "GPU" : "CPU",
        rep->lastLoss, val, rep->tokensPerSecond, a.out.c_str());
    return kExitOk;
}

const CommandRegistration registration{{
    "train",
    "Train or fine-tune a Mamba-3 model on text files (byte-level tokens), on the CPU or GPU",
    [](CLI::App& sub, const GlobalOptions& globals) -> std::function<int()> {
        auto a = std::make_shared<TrainArgs>();
        sub.add_option("--config", a->config, "config.json of a new model (random init)");
        sub.add_option("--base", a->base, "model folder to fine-tune");
        sub.add_option("--text", a->texts, "text files (each one document)");
        sub.add_option("--collection", a->collection,
                       "train on a store collection's documents (validation: whole documents)");
        sub.add_option("--val-fraction", a->o.valFraction,
                       "held out for validation: each text file's tail, or this fraction of a "
                       "collection's documents (default 0.1)");
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
        sub.add_option("--schedule", a->o.schedule,
                       "learning-rate schedule after warm-up: cosine, or wsd (stable, then "
                       "linear decay over the last --decay-fraction of the steps)")
            ->check(CLI::IsMember({"cosine", "wsd"}));
        sub.add_option("--decay-fraction", a->o.decayFraction,
                       "wsd: fraction of the steps spent decaying (default 0.2)");
        sub.add_option("--clip", a->o.clip, "gradient clipping norm (0: off)");
        sub.add_option("--weight-decay", a->o.adamw.weightDecay, "AdamW weight decay");
        sub.add_option("--eval-every", a->o.evalEvery, "validate every N steps");
        sub.add_option("--checkpoint-every", a->o.checkpointEvery, "checkpoint every N steps");
        sub.add_option("--seed", a->o.seed, "seed of the init and of the data order");
        sub.add_option("--lora", a->loraRank,
                       "LoRA rank: train only low-rank adapters of --base (OUT gets the merged "
                       "model and adapter_model.safetensors; checkpoints hold the adapters and "
                       "name --base, which a resume needs unchanged)");
        sub.add_option("--lora-alpha", a->loraAlpha, "LoRA alpha (default: twice the rank)");
        sub.add_option("--lora-targets", a->loraTargets,
                       "LoRA target modules: in_proj,out_proj,fc1,fc2,mlp (default "
                       "in_proj,out_proj)")
            ->delimiter(',');
        sub.add_option("--window-start-after", a->o.windowStartAfter,
                       "a byte 0..255: a --text file holding it is a file of examples, each "
                       "ending with that byte; its windows start only at an example's start "
                       "(drawn by the example's bytes, so the file keeps its share), so an "
                       "example no longer than --seq-len is trained whole; other files keep "
                       "random offsets (default -1: random offsets everywhere; kept by --resume)")
            ->check(CLI::Range(-1, 255));
        sub.add_option("--answer-weight", a->o.answerWeight,
                       "W >= 0: in each training window the positions whose target byte is part "
                       "of an answer (after \"Answer:\" up to and including the next newline, "
                       "from the window's own bytes) weigh W in the gradient, the others 1; "
                       "the logged training and validation losses stay unweighted means "
                       "(default 1: off; kept by --resume)")
            ->check(CLI::Range(0.0, 1e30));
        sub.add_option("--resume", a->resume, "continue from OUT folder or ckpt folder");
        sub.add_option("--device", a->device,
                       "cpu, cuda (an error without a usable GPU), or auto (the GPU when one is "
                       "usable, else the CPU, said on stderr)")
            ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
        sub.add_option("--precision", a->o.precision,
                       "the GPU step's arithmetic: fp32 (exact; the default, or tf32 under "
                       "LECTERN_TRAIN_TF32=1), tf32, or bf16 (bf16 GEMMs and scan on fp32 "
                       "master weights, fp32 gradients and AdamW)")
            ->check(CLI::IsMember({"fp32", "tf32", "bf16"}));
        return [a, &globals] {
            a->store = globals.storeDir;
            return runTrain(*a);
        };
    },
}};

}  // namespace
}  // namespace lectern::cli
