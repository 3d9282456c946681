// The training loop: batches from a ByteDataStream, loss and gradients (model_train.h),
// gradient accumulation, a NaN guard (a non-finite loss or gradient: the step is reported
// and skipped, weights and moments untouched), global-norm clipping, the warm-up + cosine
// schedule, AdamW, periodic validation, atomic checkpoints, a JSON Lines metrics log and a
// terminal progress line. Resuming from a checkpoint continues bit for bit.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "training/checkpoint.h"
#include "training/data_stream.h"
#include "training/lora/lora.h"
#include "training/model_io.h"
#include "training/optim/adamw.h"

namespace lectern::train {

// What the progress hook sees after each optimizer step (skipped steps included: their
// loss is NaN).
struct TrainProgress {
    int64_t step = 0, steps = 0;  // optimizer steps done, total
    double loss = 0.0, lr = 0.0, tokensPerSecond = 0.0, etaSeconds = 0.0;
    double valLoss = std::numeric_limits<double>::quiet_NaN();  // NaN: no validation this step
};

struct TrainOptions {
    int64_t steps = 200, seqLen = 128, batch = 4, accum = 1, warmup = 20;
    double lr = 3e-3, minLrRatio = 0.1, clip = 1.0;
    std::string schedule = "cosine";  // or "wsd" (warm-up, stable, decay: lrWsd)
    double decayFraction = 0.2;       // wsd: the last fraction of the steps decays
    double valFraction = 0.1;         // of each text file, its tail, held out for validation
    // A byte 0..255: in text files holding it, windows start only after it (examples; see
    // ByteDataStream::fromFiles); -1: random offsets everywhere.
    int windowStartAfter = -1;
    // The gradient weight of positions whose target byte is part of an answer ("Answer:" up
    // to the next '\n', training/answer_weights.h); 1: off. Only the gradient is weighted:
    // the logged training loss and the validation loss stay plain unweighted means.
    double answerWeight = 1.0;
    AdamWConfig adamw;
    int64_t evalEvery = 50, evalWindows = 16, checkpointEvery = 100;
    uint64_t seed = 1;
    std::string outDir;
    bool progress = true;
    // Tests: stop after this many steps of this run (0: run to `steps`), and a hook that
    // sees each step's gradients before the guard (to inject a non-finite value).
    int64_t stopAfter = 0;
    std::function<void(int64_t step, model::ModelWeights& grads)> gradHook;
    // Called after every optimizer step (after its validation, if any); returning false
    // stops the run cleanly: a checkpoint is written and runTraining returns with
    // TrainReport::cancelled = true (no final model folder: resume from the checkpoint).
    std::function<bool(const TrainProgress&)> onProgress;
    std::string device = "cpu";  // "cpu" | "cuda" | "auto" (auto: cuda when a GPU is usable)
    // The GPU step's arithmetic (model_train_cuda.h TrainPrecision): "fp32", "tf32", "bf16",
    // or "" (fp32; tf32 under LECTERN_TRAIN_TF32=1). The CPU step is always fp32: tf32 or
    // bf16 with device "cpu" is an error, with "auto" on a CPU fallback a note on stderr.
    std::string precision;
};

struct TrainReport {
    int64_t stepsDone = 0, skipped = 0;
    double lastLoss = 0.0, valLoss = 0.0;  // valLoss NaN: no validation window fits
    double tokensPerSecond = 0.0;
    bool cancelled = false;      // onProgress returned false
    std::string device = "cpu";  // where the steps ran
};

struct EvalResult {
    double loss = 0.0;      // mean nats per predicted token
    int64_t predicted = 0;  // tokens predicted
};

// Where evaluate()'s windows of L tokens start: every whole window of `tokens`, or, when
// maxWindows (> 0) is fewer, that many spread evenly over them, so that a capped evaluation
// of a validation stream made of several files samples every file, not the first one only.
std::vector<int64_t> evalWindowStarts(int64_t tokens, int64_t L, int64_t maxWindows);

// Windows of L tokens over `tokens` (evalWindowStarts), each from a fresh state.
EvalResult evaluate(const model::ModelConfig& cfg, const model::ModelWeights& w,
                    const std::vector<int32_t>& tokens, int64_t L, int64_t maxWindows);

struct TrainRun {
    TrainModel model;
    AdamWState opt;
    ByteDataStream data;
    int64_t step = 0;                // the next step to take
    std::vector<std::string> texts;  // recorded in checkpoints
    std::string collection, store;   // or a store collection (and --store), likewise
    // LoRA fine-tuning: only these adapters train; model.w stays the base, bit for bit.
    // Checkpoints hold the adapters (and their moments) and loraBase, a reference to the
    // base model folder with a hash of its weights file (checkpoint.h); without a loraBase
    // they hold a copy of the base instead. The final OUT folder holds the MERGED model
    // (what the engine loads) and the adapters. On the GPU the adapters train there too.
    std::optional<LoraAdapters> lora;
    LoraBaseRef loraBase;
};

// Runs steps run.step .. o.steps−1 (or o.stopAfter of them), writing into o.outDir.
Expected<TrainReport> runTraining(TrainRun& run, const TrainOptions& o);

// trainer_state.json of a checkpoint, and its application to a run being resumed (the
// options saved there replace o's, except steps when keepSteps).
std::string trainerStateJson(const TrainOptions& o, const TrainRun& run);
Status applyTrainerState(const std::string& json, TrainOptions& o, TrainRun& run, bool keepSteps);

}  // namespace lectern::train
