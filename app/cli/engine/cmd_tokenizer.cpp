// `lectern-cli tokenizer train --text FILE... | --collection NAME, --vocab-size N, --out
// FILE`: learns a byte-level BPE tokenizer (training/tokenizer/bpe_trainer.h) and writes a
// standard tokenizer.json that the engine loads, for training a model from scratch.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/command.h"
#include "cli/engine/train_collection_loader.h"
#include "io/byte_source.h"
#include "training/tokenizer/bpe_trainer.h"

namespace lectern::cli {
namespace {

struct TokenizerArgs {
    std::vector<std::string> texts;
    std::string collection, store, out;
    train::BpeTrainOptions o;
};

int fail(const std::string& message) {
    std::fprintf(stderr, "lectern-cli tokenizer train: %s\n", message.c_str());
    return kExitFailure;
}

Expected<std::vector<std::string>> readDocs(const TokenizerArgs& a) {
    if (!a.collection.empty()) {
        if (!collectionLoader())
            return Status::error(
                "this lectern-cli was built without the store; --collection needs it");
        return collectionLoader()(a.store, a.collection);
    }
    std::vector<std::string> docs;
    for (const std::string& p : a.texts) {
        std::ifstream f(p, std::ios::binary);
        if (!f) return Status::error(p + ": cannot open");
        std::ostringstream s;
        s << f.rdbuf();
        if (f.bad()) return Status::error(p + ": read error");
        docs.push_back(s.str());
    }
    return docs;
}

int runTokenizerTrain(const TokenizerArgs& a) {
    if (a.texts.empty() == a.collection.empty()) return fail("give either --text or --collection");
    auto docs = readDocs(a);
    if (!docs) return fail(docs.error());
    auto m = train::trainBpe(*docs, a.o);
    if (!m) return fail(m.error());
    if (Status st = io::writeFileAtomic(a.out, train::bpeTokenizerJson(*m)); !st)
        return fail(st.message());
    std::printf("%zu tokens (%zu merges) written to %s\n", m->tokens.size(), m->merges.size(),
                a.out.c_str());
    return kExitOk;
}

const CommandRegistration registration{{
    "tokenizer",
    "Tokenizer tools: `tokenizer train` learns a byte-level BPE tokenizer.json",
    [](CLI::App& sub, const GlobalOptions& globals) -> std::function<int()> {
        auto a = std::make_shared<TokenizerArgs>();
        CLI::App* tr = sub.add_subcommand("train", "learn a byte-level BPE tokenizer.json");
        sub.require_subcommand(1);
        tr->add_option("--text", a->texts, "text files");
        tr->add_option("--collection", a->collection, "a store collection's documents");
        tr->add_option("--vocab-size", a->o.vocabSize, "tokens, the 256 bytes included")
            ->check(CLI::Range(256, 1 << 20));
        tr->add_option("--out", a->out, "tokenizer.json to write")->required();
        return [a, &globals] {
            a->store = globals.storeDir;
            return runTokenizerTrain(*a);
        };
    },
}};

}  // namespace
}  // namespace lectern::cli
