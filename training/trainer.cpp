// The training loop (trainer.h).
#include "training/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "training/answer_weights.h"
#include "training/checkpoint.h"
#include "training/model_train.h"
#include "training/params.h"
#if LECTERN_TRAIN_CUDA
#include "training/cuda/lora_cuda.h"
#include "training/cuda/model_train_cuda.h"
#endif

namespace lectern::train {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string formatEta(double seconds) {
    char buf[32];
    const long s = long(seconds);
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
    return buf;
}

struct Logger {
    std::ofstream metrics;
    bool progress;
    void line(const json& j) {
        metrics << j.dump() << '\n';
        metrics.flush();
    }
    void show(int64_t step, int64_t total, double loss, double tps, double eta) {
        if (!progress) return;
        std::fprintf(stderr, "\rstep %lld/%lld  loss %.4f  %.0f tok/s  ETA %s   ", (long long)step,
                     (long long)total, loss, tps, formatEta(eta).c_str());
        std::fflush(stderr);
    }
};

// The batch's per-position gradient weights (--answer-weight) into out, or nullptr when the
// option is off, so the default step is the plain one bit for bit.
const float* answerWeights(const TrainOptions& o, const std::vector<int32_t>& ids,
                           std::vector<float>& out) {
    if (o.answerWeight == 1.0) return nullptr;
    answer_row_weights(ids.data(), o.batch, o.seqLen, float(o.answerWeight), out);
    return out.data();
}

// One optimiser step's gradients (accumulated over o.accum micro-batches) into g; returns
// the mean loss.
double accumulate(TrainRun& run, const TrainOptions& o, const model::ModelWeights& w,
                  model::ModelWeights& g, std::vector<int32_t>& ids, Activations& ws,
                  std::vector<float>& rowWeights) {
    zero_grad(run.model.cfg, g);
    const double count = double(o.batch) * double(o.seqLen - 1) * double(o.accum);
    double sum = 0.0;
    for (int64_t a = 0; a < o.accum; ++a) {
        run.data.nextBatch(o.batch, o.seqLen, ids);
        const float* weights = answerWeights(o, ids, rowWeights);
        sum += loss_and_grads(run.model.cfg, w, ids.data(), o.batch, o.seqLen, &g, 1.0 / count, &ws,
                              weights);
    }
    return sum / count;
}

Status checkValid(const TrainRun& run, const TrainOptions& o) {
    if (run.model.cfg.vocabPadded() < 256)
        return Status::error("byte-level training needs a vocabulary of at least 256 entries");
    if (o.schedule != "cosine" && o.schedule != "wsd")
        return Status::error("unknown schedule '" + o.schedule + "' (cosine or wsd)");
    if (o.seqLen < 2 || o.batch < 1 || o.accum < 1 || o.steps < 1)
        return Status::error("need --seq-len >= 2, --batch >= 1, accumulation >= 1, --steps >= 1");
    if (!(o.answerWeight >= 0.0) || !std::isfinite(o.answerWeight))
        return Status::error("--answer-weight must be a finite number >= 0");
    if (int64_t(run.data.train().size()) < o.seqLen)
        return Status::error("the training text has " + std::to_string(run.data.train().size()) +
                             " tokens, fewer than --seq-len " + std::to_string(o.seqLen));
    return Status::ok();
}

double learningRate(const TrainOptions& o, int64_t step) {
    return o.schedule == "wsd"
               ? lrWsd(step, o.warmup, o.steps, o.decayFraction, o.lr, o.lr * o.minLrRatio)
               : lrAt(step, o.warmup, o.steps, o.lr, o.lr * o.minLrRatio);
}

// Clipping, the learning rate of `step`, and the AdamW update (of the adapters, and then
// the merged weights, in a LoRA run). Returns the learning rate.
double update(TrainRun& run, const TrainOptions& o, int64_t step, double norm,
              model::ModelWeights& g, model::ModelWeights& merged) {
    const model::ModelConfig& cfg = run.model.cfg;
    if (o.clip > 0.0 && norm > o.clip) {
        if (run.lora)
            loraScaleGrads(*run.lora, float(o.clip / norm));
        else
            scaleGrads(cfg, g, float(o.clip / norm));
    }
    const double lr = learningRate(o, step);
    if (run.lora) {
        loraAdamw(o.adamw, lr, *run.lora);
        loraMerge(cfg, run.model.w, *run.lora, merged);
    } else {
        adamw_update(cfg, o.adamw, lr, run.model.w, g, run.opt);
    }
    return lr;
}

// A LoRA run's checkpoint holds the adapters with their moments and a reference to the
// base (or, with no reference known, a copy of the base beside them), written inside the
// same atomic checkpoint step. Non-finite adapters are never written (NUM-4).
Status writeCheckpoint(TrainRun& run, const TrainOptions& o) {
    std::function<Status(const std::string&)> adapters;
    if (run.lora)
        adapters = [&run](const std::string& dir) {
            if (!loraAllFinite(*run.lora))
                return Status::error("non-finite LoRA adapters; checkpoint not written");
            return loraWrite(dir, *run.lora, true);
        };
    if (run.lora && !run.loraBase.dir.empty())
        return checkpointWriteLora(o.outDir, run.step, run.loraBase, trainerStateJson(o, run), 2,
                                   adapters);
    // The base copy's optimizer file: zero moments when the run was given none (LoRA never
    // uses them; checkpointRead wants every tensor).
    if (run.lora && run.opt.m.layers.size() != size_t(run.model.cfg.nLayer))
        run.opt = adamwInit(run.model.cfg);
    return checkpointWrite(o.outDir, run.step, run.model, run.opt, trainerStateJson(o, run), 2,
                           adapters);
}

// OUT's model folder: the trained model, or in a LoRA run the merged one plus the adapters
// (merged here from the base and the adapters when the stepper keeps no host copy).
Status writeFinal(TrainRun& run, const TrainOptions& o, const model::ModelWeights& merged) {
    if (!run.lora) return writeModelDir(o.outDir, run.model);
    TrainModel out{run.model.cfg, {}, run.model.configText};
    if (merged.layers.empty())
        loraMerge(run.model.cfg, run.model.w, *run.lora, out.w);
    else
        out.w = merged;
    if (Status st = writeModelDir(o.outDir, out); !st) return st;
    return loraWrite(o.outDir, *run.lora, false);
}

// Where the steps run. The CPU stepper works on run.model.w and run.opt in place; a
// device stepper keeps its own copies and writes them back into `run` on sync() (before a
// checkpoint and at the end).
class Stepper {
public:
    virtual ~Stepper() = default;
    virtual std::string name() const = 0;
    // One optimizer step's gradients (o.accum micro-batches); returns the mean loss.
    virtual Expected<double> accumulate(TrainRun& run, const TrainOptions& o) = 0;
    virtual Status gradHook(TrainRun& run, const TrainOptions& o, int64_t step) = 0;
    virtual Expected<double> gradNorm(TrainRun& run) = 0;
    // Clipping, the learning rate of `step` and AdamW; returns the learning rate.
    virtual Expected<double> update(TrainRun& run, const TrainOptions& o, int64_t step,
                                    double norm) = 0;
    virtual Expected<EvalResult> evaluate(TrainRun& run, const TrainOptions& o) = 0;
    virtual Status sync(TrainRun& run) = 0;
    // What OUT's model folder gets in a LoRA run (base + adapters).
    virtual const model::ModelWeights& merged() const = 0;
};

class CpuStepper final : public Stepper {
public:
    explicit CpuStepper(TrainRun& run) : g_(zerosLike(run.model.cfg)) {
        if (run.lora) loraMerge(run.model.cfg, run.model.w, *run.lora, merged_);
    }
    std::string name() const override { return "cpu"; }
    Expected<double> accumulate(TrainRun& run, const TrainOptions& o) override {
        return train::accumulate(run, o, weights(run), g_, ids_, ws_, rowWeights_);
    }
    Status gradHook(TrainRun&, const TrainOptions& o, int64_t step) override {
        o.gradHook(step, g_);
        return Status::ok();
    }
    Expected<double> gradNorm(TrainRun& run) override {
        if (!run.lora) return train::gradNorm(run.model.cfg, g_);
        loraGrads(run.model.cfg, g_, *run.lora);
        return loraGradNorm(*run.lora);
    }
    Expected<double> update(TrainRun& run, const TrainOptions& o, int64_t step,
                            double norm) override {
        return train::update(run, o, step, norm, g_, merged_);
    }
    Expected<EvalResult> evaluate(TrainRun& run, const TrainOptions& o) override {
        return train::evaluate(run.model.cfg, weights(run), run.data.validation(), o.seqLen,
                               o.evalWindows);
    }
    Status sync(TrainRun&) override { return Status::ok(); }
    const model::ModelWeights& merged() const override { return merged_; }

private:
    const model::ModelWeights& weights(const TrainRun& run) const {
        return run.lora ? merged_ : run.model.w;
    }
    model::ModelWeights g_, merged_;
    std::vector<int32_t> ids_;
    std::vector<float> rowWeights_;  // --answer-weight's, per batch
    Activations ws_;
};

#if LECTERN_TRAIN_CUDA
// The GPU's steps (training/cuda/model_train_cuda.h): weights, gradients and AdamW moments
// stay on the device; the host sees the loss and the gradient norm each step. In a LoRA
// run (lora != null) the model's weights are the merged ones and only the adapters train
// (training/cuda/lora_cuda.h); run.model.w stays the base.
class CudaStepper final : public Stepper {
public:
    CudaStepper(std::unique_ptr<CudaTrainModel> m, std::unique_ptr<CudaLora> lora)
        : m_(std::move(m)), lora_(std::move(lora)) {}
    std::string name() const override { return "cuda"; }
    Expected<double> accumulate(TrainRun& run, const TrainOptions& o) override {
        const double count = double(o.batch) * double(o.seqLen - 1) * double(o.accum);
        double sum = 0.0;
        if (Status st = m_->zeroGrads(); !st) return st;
        for (int64_t a = 0; a < o.accum; ++a) {
            run.data.nextBatch(o.batch, o.seqLen, ids_);
            const float* weights = answerWeights(o, ids_, rowWeights_);
            auto l = m_->lossAndGrads(ids_.data(), o.batch, o.seqLen, 1.0 / count, weights);
            if (!l) return l.status();
            sum += *l;
        }
        return sum / count;
    }
    // Tests only: the gradients make a round trip through the host.
    Status gradHook(TrainRun& run, const TrainOptions& o, int64_t step) override {
        model::ModelWeights g = zerosLike(run.model.cfg);
        if (Status st = m_->downloadGrads(g); !st) return st;
        o.gradHook(step, g);
        return m_->uploadGrads(g);
    }
    Expected<double> gradNorm(TrainRun&) override {
        return lora_ ? lora_->gradNorm() : m_->gradNorm();
    }
    Expected<double> update(TrainRun&, const TrainOptions& o, int64_t step, double norm) override {
        const double scale = o.clip > 0.0 && norm > o.clip ? o.clip / norm : 1.0;
        const double lr = learningRate(o, step);
        if (Status st = lora_ ? lora_->adamwStep(o.adamw, lr, float(scale))
                              : m_->adamwStep(o.adamw, lr, float(scale));
            !st)
            return st;
        return lr;
    }
    // evaluate()'s windows (evalWindowStarts), up to o.batch of them per forward, gathered
    // as the rows of one [B, L] block.
    Expected<EvalResult> evaluate(TrainRun& run, const TrainOptions& o) override {
        EvalResult r;
        const std::vector<int32_t>& tokens = run.data.validation();
        const int64_t L = o.seqLen;
        const std::vector<int64_t> starts =
            evalWindowStarts(int64_t(tokens.size()), L, o.evalWindows);
        const int64_t windows = int64_t(starts.size());
        double sum = 0.0;
        std::vector<int32_t> block;
        for (int64_t w = 0; w < windows; w += o.batch) {
            const int64_t B = std::min(o.batch, windows - w);
            block.clear();
            for (int64_t b = 0; b < B; ++b)
                block.insert(block.end(), tokens.begin() + starts[size_t(w + b)],
                             tokens.begin() + starts[size_t(w + b)] + L);
            auto l = m_->loss(block.data(), B, L);
            if (!l) return l.status();
            sum += *l;
            r.predicted += B * (L - 1);
        }
        r.loss = r.predicted > 0 ? sum / double(r.predicted) : 0.0;
        return r;
    }
    Status sync(TrainRun& run) override {
        if (lora_) return lora_->download(*run.lora);
        return m_->download(run.model.w, run.opt);
    }
    // Empty: writeFinal merges the synced adapters into the base on the host.
    const model::ModelWeights& merged() const override { return none_; }

private:
    std::unique_ptr<CudaTrainModel> m_;
    std::unique_ptr<CudaLora> lora_;  // declared after m_: destroyed before it
    std::vector<int32_t> ids_;
    std::vector<float> rowWeights_;  // --answer-weight's, per batch
    model::ModelWeights none_;
};
#endif

Expected<std::unique_ptr<Stepper>> makeStepper(TrainRun& run, const TrainOptions& o) {
    if (o.device != "cpu" && o.device != "cuda" && o.device != "auto")
        return Status::error("unknown device '" + o.device + "' (cpu, cuda or auto)");
    const bool reduced = o.precision == "tf32" || o.precision == "bf16";
    if (!reduced && !o.precision.empty() && o.precision != "fp32")
        return Status::error("unknown precision '" + o.precision + "' (fp32, tf32 or bf16)");
    if (o.device == "cpu" && reduced)
        return Status::error("precision " + o.precision + " needs the GPU (--device cuda)");
    if (o.device == "cpu") return std::unique_ptr<Stepper>(new CpuStepper(run));
#if LECTERN_TRAIN_CUDA
    auto precision = parseTrainPrecision(o.precision);
    if (!precision) return precision.status();
    // A LoRA run uploads the base without moments (only the adapters have any).
    const AdamWState none;
    auto m = CudaTrainModel::create(run.model.cfg, run.model.w, run.lora ? none : run.opt, o.batch,
                                    o.seqLen, 0, !run.lora, *precision);
    std::unique_ptr<CudaLora> lora;
    if (m && run.lora) {
        auto l = CudaLora::create(**m, *run.lora);
        if (!l)
            m = l.status();
        else
            lora = std::move(*l);
    }
    if (m) {
        std::fprintf(stderr,
                     "training %son the GPU (%s): %zu MiB of device memory (batch %lld x %lld)\n",
                     lora ? "LoRA adapters " : "", trainPrecisionName((*m)->precision()),
                     ((*m)->deviceBytes() + (lora ? lora->deviceBytes() : 0)) >> 20,
                     (long long)o.batch, (long long)o.seqLen);
        return std::unique_ptr<Stepper>(new CudaStepper(std::move(*m), std::move(lora)));
    }
    if (o.device == "cuda") return m.status();
    std::fprintf(stderr, "training on the CPU%s: %s\n", reduced ? " (in fp32)" : "",
                 m.error().c_str());
    return std::unique_ptr<Stepper>(new CpuStepper(run));
#else
    if (o.device == "cuda")
        return Status::error("this build has no CUDA backend; use --device cpu");
    std::fprintf(stderr, "training on the CPU: this build has no CUDA backend\n");
    return std::unique_ptr<Stepper>(new CpuStepper(run));
#endif
}

// The hook asked to stop: the run so far goes into a checkpoint (resumable).
Expected<TrainReport> cancel(TrainRun& run, const TrainOptions& o, Stepper& dev, TrainReport& rep,
                             bool checkpointed) {
    if (Status st = dev.sync(run); !st) return st;
    if (!checkpointed)
        if (Status st = writeCheckpoint(run, o); !st) return st;
    rep.cancelled = true;
    return rep;
}

}  // namespace

std::vector<int64_t> evalWindowStarts(int64_t tokens, int64_t L, int64_t maxWindows) {
    std::vector<int64_t> starts;
    if (L < 2) return starts;
    const int64_t whole = tokens / L;
    const int64_t n = maxWindows > 0 ? std::min(whole, maxWindows) : whole;
    starts.reserve(size_t(n));
    // Window i of n is whole window floor(i * whole / n): all of them when n == whole.
    for (int64_t i = 0; i < n; ++i) starts.push_back(i * whole / n * L);
    return starts;
}

EvalResult evaluate(const model::ModelConfig& cfg, const model::ModelWeights& w,
                    const std::vector<int32_t>& tokens, int64_t L, int64_t maxWindows) {
    EvalResult r;
    double sum = 0.0;
    Activations ws;
    for (int64_t start : evalWindowStarts(int64_t(tokens.size()), L, maxWindows)) {
        sum += loss_and_grads(cfg, w, tokens.data() + start, 1, L, nullptr, 1.0, &ws);
        r.predicted += L - 1;
    }
    r.loss = r.predicted > 0 ? sum / double(r.predicted) : 0.0;
    return r;
}

std::string trainerStateJson(const TrainOptions& o, const TrainRun& run) {
    json j;
    j["step"] = run.step;
    j["data"] = run.data.saveState();
    j["texts"] = run.texts;
    if (!run.collection.empty()) j["collection"] = run.collection, j["store"] = run.store;
    j["options"] = {{"steps", o.steps},
                    {"seq_len", o.seqLen},
                    {"batch", o.batch},
                    {"accum", o.accum},
                    {"warmup", o.warmup},
                    {"lr", o.lr},
                    {"min_lr_ratio", o.minLrRatio},
                    {"clip", o.clip},
                    {"weight_decay", o.adamw.weightDecay},
                    {"beta1", o.adamw.beta1},
                    {"beta2", o.adamw.beta2},
                    {"eps", o.adamw.eps},
                    {"eval_every", o.evalEvery},
                    {"eval_windows", o.evalWindows},
                    {"checkpoint_every", o.checkpointEvery},
                    {"seed", o.seed},
                    {"val_fraction", o.valFraction},
                    {"schedule", o.schedule},
                    {"decay_fraction", o.decayFraction},
                    {"window_start_after", o.windowStartAfter},
                    {"answer_weight", o.answerWeight}};
    if (run.lora)
        j["lora"] = {{"rank", run.lora->cfg.rank},
                     {"alpha", run.lora->cfg.alpha},
                     {"targets", run.lora->cfg.targets}};
    if (run.lora && !run.loraBase.dir.empty())
        j["lora_base"] = {{"base", run.loraBase.dir}, {"model_hash", run.loraBase.hash}};
    return j.dump(2) + "\n";
}

Status applyTrainerState(const std::string& text, TrainOptions& o, TrainRun& run, bool keepSteps) {
    const json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("step") ||
        !j["step"].is_number_integer() || !j.contains("data") || !j["data"].is_string() ||
        !j.contains("options") || !j["options"].is_object())
        return Status::error("trainer_state.json is malformed");
    const json& op = j["options"];
    // An integer option takes only a JSON integer: casting 1e300 to int64 is undefined
    // behaviour, and a checkpoint's file is input like any other.
    auto num = [&](const char* key, auto& field) {
        using Field = std::decay_t<decltype(field)>;
        if (!op.contains(key)) return;
        const json& v = op[key];
        if (std::is_integral_v<Field> ? v.is_number_integer() : v.is_number())
            field = v.get<Field>();
    };
    const int64_t steps = o.steps;
    num("steps", o.steps), num("seq_len", o.seqLen), num("batch", o.batch), num("accum", o.accum);
    num("warmup", o.warmup), num("lr", o.lr), num("min_lr_ratio", o.minLrRatio),
        num("clip", o.clip);
    num("weight_decay", o.adamw.weightDecay), num("beta1", o.adamw.beta1);
    num("beta2", o.adamw.beta2), num("eps", o.adamw.eps), num("eval_every", o.evalEvery);
    num("eval_windows", o.evalWindows), num("checkpoint_every", o.checkpointEvery),
        num("seed", o.seed);
    num("val_fraction", o.valFraction), num("decay_fraction", o.decayFraction);
    num("window_start_after", o.windowStartAfter), num("answer_weight", o.answerWeight);
    if (op.contains("schedule") && op["schedule"].is_string()) o.schedule = op["schedule"];
    if (keepSteps) o.steps = steps;
    run.step = j["step"].get<int64_t>();
    if (j.contains("texts") && j["texts"].is_array())
        for (const json& t : j["texts"])
            if (t.is_string() && run.texts.size() < j["texts"].size()) run.texts.push_back(t);
    if (j.contains("collection") && j["collection"].is_string()) run.collection = j["collection"];
    if (j.contains("store") && j["store"].is_string()) run.store = j["store"];
    // The base reference (checkpointRead has checked the base against it already), so the
    // resumed run's checkpoints keep naming the base instead of copying it.
    if (j.contains("lora_base") && j["lora_base"].is_object()) {
        const json& b = j["lora_base"];
        if (b.contains("base") && b["base"].is_string() && b.contains("model_hash") &&
            b["model_hash"].is_string())
            run.loraBase = LoraBaseRef{b["base"], b["model_hash"]};
    }
    return run.data.loadState(j["data"].get<std::string>());
}

Expected<TrainReport> runTraining(TrainRun& run, const TrainOptions& o) {
    if (Status st = checkValid(run, o); !st) return st;
    auto stepper = makeStepper(run, o);
    if (!stepper) return stepper.status();
    Stepper& dev = **stepper;
    std::error_code ec;
    std::filesystem::create_directories(o.outDir, ec);
    if (ec) return Status::error(o.outDir + ": cannot create folder: " + ec.message());
    Logger log{std::ofstream(o.outDir + "/metrics.jsonl", std::ios::app),
               o.progress && ::isatty(2)};
    if (!log.metrics) return Status::error(o.outDir + "/metrics.jsonl: cannot open");
    TrainReport rep;
    rep.device = dev.name();
    const auto t0 = Clock::now();
    const int64_t first = run.step;
    while (run.step < o.steps && (o.stopAfter <= 0 || run.step - first < o.stopAfter)) {
        const int64_t step = run.step;
        auto loss = dev.accumulate(run, o);
        if (!loss) return loss.status();
        if (o.gradHook)
            if (Status st = dev.gradHook(run, o, step); !st) return st;
        auto norm = dev.gradNorm(run);
        if (!norm) return norm.status();
        run.step += 1;
        json line{{"step", step + 1}, {"loss", *loss}, {"grad_norm", *norm}};
        const bool last =
            run.step == o.steps || (o.stopAfter > 0 && run.step - first == o.stopAfter);
        TrainProgress pr;
        pr.step = run.step, pr.steps = o.steps;
        const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
        const double eta = secs / double(run.step - first) * double(o.steps - run.step);
        if (!std::isfinite(*loss) || !std::isfinite(*norm)) {
            std::fprintf(stderr, "\nstep %lld: non-finite %s; update skipped\n",
                         (long long)step + 1, std::isfinite(*loss) ? "gradient" : "loss");
            rep.skipped += 1;
            line["skipped"] = true;
            line["loss"] = nullptr, line["grad_norm"] = nullptr;  // JSON has no NaN
            log.line(line);
            pr.loss = NAN, pr.tokensPerSecond = rep.tokensPerSecond, pr.etaSeconds = eta;
            if (o.onProgress && !o.onProgress(pr)) return cancel(run, o, dev, rep, false);
            continue;
        }
        auto lr = dev.update(run, o, step, *norm);
        if (!lr) return lr.status();
        rep.lastLoss = *loss;
        rep.stepsDone += 1;
        rep.tokensPerSecond =
            double((run.step - first) * o.batch * o.seqLen * o.accum) / std::max(secs, 1e-9);
        line["lr"] = *lr;
        line["tokens_per_s"] = rep.tokensPerSecond;
        if ((o.evalEvery > 0 && run.step % o.evalEvery == 0) || last) {
            auto e = dev.evaluate(run, o);
            if (!e) return e.status();
            rep.valLoss = e->predicted > 0 ? e->loss : NAN;
            if (e->predicted > 0) line["val_loss"] = e->loss, pr.valLoss = e->loss;
        }
        log.line(line);
        log.show(run.step, o.steps, *loss, rep.tokensPerSecond, eta);
        const bool checkpoint =
            (o.checkpointEvery > 0 && run.step % o.checkpointEvery == 0) || last;
        if (checkpoint) {
            if (Status st = dev.sync(run); !st) return st;
            if (Status st = writeCheckpoint(run, o); !st) return st;
        }
        pr.loss = *loss, pr.lr = *lr, pr.tokensPerSecond = rep.tokensPerSecond;
        pr.etaSeconds = eta;
        if (o.onProgress && !o.onProgress(pr)) return cancel(run, o, dev, rep, checkpoint);
    }
    if (log.progress) std::fprintf(stderr, "\n");
    if (Status st = dev.sync(run); !st) return st;
    if (Status st = writeFinal(run, o, dev.merged()); !st) return st;
    return rep;
}

}  // namespace lectern::train
