// The bundled model in resources/models/default (issue 6): within the bundle's limits
// (each file <= 15 MiB, all <= 40 MiB), every promised file present, it loads and reads a
// document, its tokenizer gives every byte its own id (what `lectern-cli train` trains
// on) with <|endoftext|> after them, prompt.json is the shared format, and the committed
// training log shows the loss falling.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "generate/generator.h"
#include "io/tokenizer_json.h"
#include "lectern/engine.h"

namespace lectern {
namespace {

namespace fs = std::filesystem;
const fs::path kDir = fs::path(LECTERN_SOURCE_DIR) / "resources/models/default";

nlohmann::json readJson(const fs::path& p) {
    std::ifstream in(p);
    return nlohmann::json::parse(in);
}

TEST(DefaultModel, FitsTheBundleAndHasEveryFile) {
    uintmax_t total = 0;
    bool weights = false;
    for (const auto& e : fs::directory_iterator(kDir)) {
        const uintmax_t size = fs::file_size(e.path());
        EXPECT_LE(size, 15u << 20) << e.path() << " is over 15 MiB";
        total += size;
        weights |= e.path().extension() == ".safetensors";
    }
    EXPECT_LE(total, 40u << 20) << "the bundle is over 40 MiB";
    EXPECT_TRUE(weights) << "no .safetensors in " << kDir;
    for (const char* f : {"config.json", "tokenizer.json", "prompt.json", "MODEL_CARD.md",
                          "train_log.jsonl", "metrics.json"})
        EXPECT_TRUE(fs::exists(kDir / f)) << f << " missing";
}

TEST(DefaultModel, TokenizerIsByteLevelWithEndOfText) {
    auto tok = io::Tokenizer::load((kDir / "tokenizer.json").string());
    ASSERT_TRUE(tok) << tok.error();
    std::string all;
    for (int b = 0; b < 256; ++b) all.push_back(char(b));
    const std::vector<int32_t> ids = tok->encode(all);
    ASSERT_EQ(ids.size(), 256u);
    for (int b = 0; b < 256; ++b) EXPECT_EQ(ids[size_t(b)], b);
    auto back = tok->decode(ids);
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(*back, all);
    EXPECT_EQ(tok->tokenId("<|endoftext|>"), std::optional<int32_t>(256));
}

TEST(DefaultModel, PromptFormatIsTheSharedOne) {
    const auto p = readJson(kDir / "prompt.json");
    EXPECT_EQ(p.at("document_end").get<std::string>(), "\n\n");
    EXPECT_NE(p.at("question").get<std::string>().find("{question}"), std::string::npos);
    EXPECT_EQ(p.at("stop").get<std::vector<std::string>>(), std::vector<std::string>{"\n"});
}

TEST(DefaultModel, LoadsReadsADocumentAndAnswersGreedily) {
    auto model = Model::load(kDir.string());
    ASSERT_TRUE(model) << model.error();
    EXPECT_EQ(model->info().vocabSize, 257);
    auto tok = io::Tokenizer::load((kDir / "tokenizer.json").string());
    ASSERT_TRUE(tok) << tok.error();
    const std::string doc =
        "#define HARBOR_LEDGER_12 4821\n\nQuestion: What is the value of HARBOR_LEDGER_12?\n"
        "Answer:";
    Session s = model->newSession();
    ASSERT_TRUE(s.prefill(tok->encode(doc)));
    for (float v : s.lastLogits()) ASSERT_TRUE(std::isfinite(v));
    generate::GenerateOptions o;
    o.sampling.greedy = true;
    o.maxTokens = 16;
    o.stop = {"\n"};
    o.endOfSequence = 256;
    auto r = generate::generate(*model, s, o, [&](int32_t id) { return tok->decode({id}); });
    ASSERT_TRUE(r) << r.error();
    EXPECT_GE(r->ids.size(), 1u);
    EXPECT_LE(r->ids.size(), 16u);
}

TEST(DefaultModel, TrainingLogShowsTheLossFalling) {
    std::ifstream in(kDir / "train_log.jsonl");
    std::vector<double> loss;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) loss.push_back(nlohmann::json::parse(line).at("loss").get<double>());
    ASSERT_GE(loss.size(), 20u);
    double last = 0.0;
    for (size_t i = loss.size() - 10; i < loss.size(); ++i) last += loss[i] / 10.0;
    // Byte-level: a uniform guess is ln 256 = 5.55 nats; the first steps are near it.
    EXPECT_GT(loss.front(), 5.0);
    EXPECT_LT(last, loss.front() - 1.5);
}

}  // namespace
}  // namespace lectern
