// The byte-level BPE trainer (training/tokenizer/bpe_trainer.h): the tokenizer.json it
// writes loads in the engine's tokenizer, round-trips every byte string through
// encode/decode, compresses the text it was trained on, and is deterministic.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "io/tokenizer_json.h"
#include "train_fixture.h"
#include "training/tokenizer/bpe_trainer.h"

namespace lectern {
namespace {

std::string corpus() {
    std::string t = test::licenceText("BSD") + test::licenceText("Apache-2.0");
    if (t.size() < 2000)
        for (int i = 0; i < 200; ++i) t += "the quick brown fox jumps over the lazy dog 1234. ";
    return t;
}

TEST(BpeTrainer, EngineLoadsRoundTripsAndCompresses) {
    if (!io::Tokenizer::available()) {
        std::printf("SKIPPED: this build has no tokenizer (no ICU)\n");
        GTEST_SKIP();
    }
    const std::string text = corpus();
    train::BpeTrainOptions o;
    o.vocabSize = 600;
    auto m = train::trainBpe({text}, o);
    ASSERT_TRUE(m) << m.error();
    EXPECT_EQ(m->tokens.size(), 600u);
    EXPECT_GE(m->merges.size(), 600u - 256u);
    const std::string json = train::bpeTokenizerJson(*m);
    auto tk = io::Tokenizer::parse(json, "trained tokenizer.json");
    ASSERT_TRUE(tk) << tk.error();
    EXPECT_EQ(tk->vocabSize(), 600);

    const std::vector<int32_t> ids = tk->encode(text);
    EXPECT_LT(double(ids.size()), 0.6 * double(text.size()));  // merges were learnt and used
    auto back = tk->decode(ids);
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(*back, text);

    std::mt19937_64 rng(5);
    for (int k = 0; k < 20; ++k) {  // arbitrary bytes, invalid UTF-8 included
        std::string s(size_t(rng() % 200), '\0');
        for (char& c : s) c = char(rng() % 256);
        auto d = tk->decode(tk->encode(s));
        ASSERT_TRUE(d);
        EXPECT_EQ(*d, s);
    }
    auto again = train::trainBpe({text}, o);
    ASSERT_TRUE(again);
    EXPECT_EQ(train::bpeTokenizerJson(*again), json);
}

TEST(BpeTrainer, StopsWhenNothingRepeatsAndRefusesTinyVocabularies) {
    train::BpeTrainOptions o;
    o.vocabSize = 1000;
    auto m = train::trainBpe({"abcdefg"}, o);  // every pair occurs once: no merge
    ASSERT_TRUE(m);
    EXPECT_EQ(m->tokens.size(), 256u);
    EXPECT_TRUE(m->merges.empty());
    o.vocabSize = 100;
    EXPECT_FALSE(train::trainBpe({"aaaa"}, o));
}

}  // namespace
}  // namespace lectern
