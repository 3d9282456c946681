// `lectern-cli eval --model DIR --text FILE [--seq-len L]`: the model's next-token loss on
// a text's byte-level tokens (consecutive windows of L bytes, each from a fresh state):
// loss in nats per byte, perplexity, and bits per byte. `--collection NAME [--store DIR]`
// evaluates every document of a store collection instead: one line per document, then the
// total over all of them.
#include <cmath>
#include <cstdio>

#include "cli/command.h"
#include "cli/engine/train_collection_loader.h"
#include "training/trainer.h"

namespace lectern::cli {
namespace {

struct EvalArgs {
    std::string model, text, collection, store;
    int64_t seqLen = 512, maxWindows = 0;
};

int fail(const std::string& message) {
    std::fprintf(stderr, "lectern-cli eval: %s\n", message.c_str());
    return kExitFailure;
}

void printResult(const std::string& what, const train::EvalResult& e) {
    std::printf("%s: %lld bytes predicted, loss %.4f nats/byte, perplexity %.3f, %.4f bits/byte\n",
                what.c_str(), (long long)e.predicted, e.loss, std::exp(e.loss),
                e.loss / std::log(2.0));
}

// Each document in windows of at most seqLen bytes; the total weights documents by size.
int evalCollection(const EvalArgs& a, const train::TrainModel& m) {
    if (!collectionLoader())
        return fail("this lectern-cli was built without the store; --collection needs it");
    auto docs = collectionLoader()(a.store, a.collection);
    if (!docs) return fail(docs.error());
    train::EvalResult total;
    double sum = 0.0;
    for (size_t i = 0; i < docs->size(); ++i) {
        std::vector<int32_t> tokens((*docs)[i].begin(), (*docs)[i].end());
        for (int32_t& t : tokens) t = int32_t(uint8_t(t));
        const int64_t L = std::min<int64_t>(a.seqLen, int64_t(tokens.size()));
        if (L < 2) continue;
        const train::EvalResult e = train::evaluate(m.cfg, m.w, tokens, L, a.maxWindows);
        printResult("document " + std::to_string(i + 1), e);
        sum += e.loss * double(e.predicted);
        total.predicted += e.predicted;
    }
    if (total.predicted == 0) return fail("collection '" + a.collection + "': nothing to predict");
    total.loss = sum / double(total.predicted);
    printResult("collection '" + a.collection + "'", total);
    return kExitOk;
}

int runEval(const EvalArgs& a) {
    if (a.text.empty() == a.collection.empty()) return fail("give either --text or --collection");
    auto m = train::loadTrainModel(a.model);
    if (!m) return fail(m.error());
    if (m->cfg.vocabPadded() < 256) return fail("byte-level evaluation needs a vocabulary >= 256");
    if (!a.collection.empty()) return evalCollection(a, *m);
    auto data = train::ByteDataStream::fromFiles({a.text}, 0.0, 0);
    if (!data) return fail(data.error());
    const std::vector<int32_t>& tokens = data->train();
    const int64_t L = std::min<int64_t>(a.seqLen, int64_t(tokens.size()));
    if (L < 2) return fail(a.text + ": fewer than 2 bytes");
    printResult(a.text, train::evaluate(m->cfg, m->w, tokens, L, a.maxWindows));
    return kExitOk;
}

const CommandRegistration registration{{
    "eval",
    "Validation loss, perplexity and bits per byte of a model on a text (byte-level)",
    [](CLI::App& sub, const GlobalOptions& globals) -> std::function<int()> {
        auto a = std::make_shared<EvalArgs>();
        sub.add_option("--model", a->model, "model folder")->required();
        sub.add_option("--text", a->text, "text file");
        sub.add_option("--collection", a->collection,
                       "store collection: every document, one line each, then the total");
        sub.add_option("--seq-len", a->seqLen, "tokens per window (each from a fresh state)");
        sub.add_option("--max-windows", a->maxWindows, "evaluate at most N windows (0: all)");
        return [a, &globals] {
            a->store = globals.storeDir;
            return runEval(*a);
        };
    },
}};

}  // namespace
}  // namespace lectern::cli
