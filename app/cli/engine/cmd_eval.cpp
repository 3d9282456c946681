// `lectern-cli eval --model DIR --text FILE [--seq-len L]`: the model's next-token loss on
// a text's byte-level tokens (consecutive windows of L bytes, each from a fresh state):
// loss in nats per byte, perplexity, and bits per byte.
#include <cmath>
#include <cstdio>

#include "cli/command.h"
#include "training/trainer.h"

namespace lectern::cli {
namespace {

struct EvalArgs {
    std::string model, text;
    int64_t seqLen = 512, maxWindows = 0;
};

int fail(const std::string& message) {
    std::fprintf(stderr, "lectern-cli eval: %s\n", message.c_str());
    return kExitFailure;
}

int runEval(const EvalArgs& a) {
    auto m = train::loadTrainModel(a.model);
    if (!m) return fail(m.error());
    if (m->cfg.vocabPadded() < 256) return fail("byte-level evaluation needs a vocabulary >= 256");
    auto data = train::ByteDataStream::fromFiles({a.text}, 0.0, 0);
    if (!data) return fail(data.error());
    const std::vector<int32_t>& tokens = data->train();
    const int64_t L = std::min<int64_t>(a.seqLen, int64_t(tokens.size()));
    if (L < 2) return fail(a.text + ": fewer than 2 bytes");
    const train::EvalResult e = train::evaluate(m->cfg, m->w, tokens, L, a.maxWindows);
    std::printf("%s: %lld bytes predicted, loss %.4f nats/byte, perplexity %.3f, %.4f bits/byte\n",
                a.text.c_str(), (long long)e.predicted, e.loss, std::exp(e.loss),
                e.loss / std::log(2.0));
    return kExitOk;
}

const CommandRegistration registration{{
    "eval",
    "Validation loss, perplexity and bits per byte of a model on a text (byte-level)",
    [](CLI::App& sub, const GlobalOptions&) -> std::function<int()> {
        auto a = std::make_shared<EvalArgs>();
        sub.add_option("--model", a->model, "model folder")->required();
        sub.add_option("--text", a->text, "text file")->required();
        sub.add_option("--seq-len", a->seqLen, "tokens per window (each from a fresh state)");
        sub.add_option("--max-windows", a->maxWindows, "evaluate at most N windows (0: all)");
        return [a] { return runEval(*a); };
    },
}};

}  // namespace
}  // namespace lectern::cli
