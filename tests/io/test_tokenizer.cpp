// Tests of the tokenizer.json loader and byte-level BPE: the GPT-2 and Llama-3 split
// regexes on hand-worked examples, merge order, added and special tokens, normalizers,
// round trips on random byte strings (invalid UTF-8 included), and refused files (MOD-6).
// The tokenizer files are built here: a 256-byte base vocabulary plus chosen merges.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "io/tokenizer_impl.h"
#include "io/tokenizer_json.h"

using namespace lectern::io;
using nlohmann::json;

namespace {

// Byte-level spelling of UTF-8 text ("a b" -> "aĠb").
std::string bl(const std::string& s) {
    return byteLevelString(s);
}

struct Spec {
    std::vector<std::pair<std::string, std::string>> merges;  // raw text pairs
    json added = json::array();
    json normalizer = nullptr;
    json preTokenizer = {{"type", "ByteLevel"},
                         {"add_prefix_space", false},
                         {"trim_offsets", true},
                         {"use_regex", true}};
    json postProcessor = nullptr;
    bool ignoreMerges = false;
    bool arrayMerges = false;
};

json makeJson(const Spec& spec) {
    json vocab = json::object();
    int next = 0;
    for (int b = 0; b < 256; ++b) vocab[bl(std::string(1, char(b)))] = next++;
    json merges = json::array();
    for (const auto& [a, b] : spec.merges) {
        if (!vocab.contains(bl(a + b))) vocab[bl(a + b)] = next++;
        if (spec.arrayMerges) {
            merges.push_back({bl(a), bl(b)});
        } else {
            merges.push_back(bl(a) + " " + bl(b));
        }
    }
    json added = spec.added;
    for (json& a : added) {
        if (!a.contains("id")) a["id"] = next++;
    }
    return {{"version", "1.0"},
            {"added_tokens", added},
            {"normalizer", spec.normalizer},
            {"pre_tokenizer", spec.preTokenizer},
            {"post_processor", spec.postProcessor},
            {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}}},
            {"model",
             {{"type", "BPE"},
              {"dropout", nullptr},
              {"unk_token", nullptr},
              {"continuing_subword_prefix", nullptr},
              {"end_of_word_suffix", nullptr},
              {"fuse_unk", false},
              {"byte_fallback", false},
              {"ignore_merges", spec.ignoreMerges},
              {"vocab", vocab},
              {"merges", merges}}}};
}

Tokenizer make(const Spec& spec) {
    auto t = Tokenizer::parse(makeJson(spec).dump(), "test.json");
    EXPECT_TRUE(t) << t.error();
    return std::move(*t);
}

json special(const std::string& content, bool isSpecial = true, bool normalized = false) {
    return {{"content", content}, {"single_word", false},     {"lstrip", false},
            {"rstrip", false},    {"normalized", normalized}, {"special", isSpecial}};
}

std::vector<std::string> splits(SplitPattern p, const std::string& text) {
    std::vector<std::pair<size_t, size_t>> spans;
    pretokenSplit(p, text, spans);
    std::vector<std::string> out;
    for (auto [b, e] : spans) out.push_back(text.substr(b, e - b));
    return out;
}

std::vector<std::string> pieces(const Tokenizer& t, const std::vector<int32_t>& ids) {
    std::vector<std::string> out;
    for (int32_t id : ids) out.push_back(*t.decode({id}));
    return out;
}

using Strs = std::vector<std::string>;

}  // namespace

TEST(Tokenizer, ByteLevelMapMatchesGpt2) {
    EXPECT_EQ(bl(" "), "\u0120");   // Ġ
    EXPECT_EQ(bl("\n"), "\u010a");  // Ċ
    EXPECT_EQ(bl("a"), "a");
    EXPECT_EQ(bl("\xad"), "\u0143");  // soft hyphen, the last unprintable Latin-1 byte
    EXPECT_EQ(bl("\xff"), "\u00ff");
}

TEST(Tokenizer, Gpt2SplitRegex) {
    if (!Tokenizer::available()) GTEST_SKIP() << "SKIPPED: no ICU in this build";
    EXPECT_EQ(splits(SplitPattern::Gpt2, "Hello, world!  It's 2024\n\n"),
              (Strs{"Hello", ",", " world", "!", " ", " It", "'s", " 2024", "\n\n"}));
    EXPECT_EQ(splits(SplitPattern::Gpt2, "I'M we'll"), (Strs{"I", "'", "M", " we", "'ll"}));
    EXPECT_EQ(
        splits(SplitPattern::Gpt2,
               "h\xc3\xa9llo w\xc3\xb6rld \xe6\x9d\xb1\xe4\xba\xac \xd9\xa1\xd9\xa2"),
        (Strs{"h\xc3\xa9llo", " w\xc3\xb6rld", " \xe6\x9d\xb1\xe4\xba\xac", " \xd9\xa1\xd9\xa2"}));
    EXPECT_EQ(splits(SplitPattern::Gpt2,
                     "a\xc2\xa0"
                     "b   "),
              (Strs{"a", "\xc2\xa0", "b", "   "}));
    EXPECT_EQ(splits(SplitPattern::Gpt2, "x ...  \ty"), (Strs{"x", " ...", "  ", "\t", "y"}));
}

TEST(Tokenizer, Llama3SplitRegex) {
    if (!Tokenizer::available()) GTEST_SKIP() << "SKIPPED: no ICU in this build";
    EXPECT_EQ(splits(SplitPattern::Llama3, "Hello, world!  It's 2024\n\n"),
              (Strs{"Hello", ",", " world", "!", " ", " It", "'s", " ", "202", "4", "\n\n"}));
    EXPECT_EQ(splits(SplitPattern::Llama3, "I'M (hello)\n  x"),
              (Strs{"I", "'M", " (", "hello", ")\n", " ", " x"}));
    EXPECT_EQ(splits(SplitPattern::Llama3, "a  \n  b"), (Strs{"a", "  \n", " ", " b"}));
    EXPECT_EQ(splits(SplitPattern::Llama3, "1234567"), (Strs{"123", "456", "7"}));
}

TEST(Tokenizer, MergesApplyByRankNotLeftToRight) {
    if (!Tokenizer::available()) GTEST_SKIP() << "SKIPPED: no ICU in this build";
    Spec spec;
    spec.merges = {{"e", "l"}, {"l", "l"}, {"h", "el"}, {" ", "w"}};
    Tokenizer t = make(spec);
    // "e l" (rank 0) wins over "l l" (rank 1): h e l l o -> h el l o -> hel l o.
    EXPECT_EQ(pieces(t, t.encode("hello world")),
              (Strs{"hel", "l", "o", " w", "o", "r", "l", "d"}));
    spec.arrayMerges = true;  // the newer [a, b] form gives the same tokenizer
    Tokenizer u = make(spec);
    EXPECT_EQ(u.encode("hello world"), t.encode("hello world"));
}

TEST(Tokenizer, SpecialTokensAndTheParseSwitch) {
    if (!Tokenizer::available()) GTEST_SKIP() << "SKIPPED: no ICU in this build";
    Spec spec;
    spec.added = json::array({special("<|endoftext|>")});
    Tokenizer t = make(spec);
    const int32_t eot = *t.tokenId("<|endoftext|>");
    EXPECT_EQ(eot, 256);
    EXPECT_TRUE(t.isSpecial(eot));
    const auto ids = t.encode("a<|endoftext|>b");
    EXPECT_EQ(ids, (std::vector<int32_t>{'a', eot, 'b'}));
    EXPECT_EQ(*t.decode(ids), "a<|endoftext|>b");
    EXPECT_EQ(*t.decode(ids, /*skipSpecial=*/true), "ab");
    const auto plain = t.encode("a<|endoftext|>b", {.parseSpecialTokens = false});
    EXPECT_EQ(plain.size(), 15u);  // every byte its own token: this vocab has no merges
    EXPECT_EQ(*t.decode(plain), "a<|endoftext|>b");
}

TEST(Tokenizer, NormalizedAddedTokensAndNfc) {
    if (!Tokenizer::available()) GTEST_SKIP() << "SKIPPED: no ICU in this build";
    Spec spec;  // GPT-NeoX style: NFC, and runs of spaces as normalized added tokens
    spec.normalizer = {{"type", "NFC"}};
    spec.added = json::array({special("<|endoftext|>"), special("  ", false, true)});
    Tokenizer t = make(spec);
    const int32_t twoSpaces = *t.tokenId("  ");
    EXPECT_EQ(t.encode("a  b"), (std::vector<int32_t>{'a', twoSpaces, 'b'}));
    EXPECT_EQ(*t.decode(t.encode("a  b")), "a  b");
    // e + combining acute composes to U+00E9 (bytes c3 a9) before BPE.
    EXPECT_EQ(t.encode("e\xcc\x81"), (std::vector<int32_t>{0xc3, 0xa9}));
    EXPECT_EQ(*t.decode(t.encode("e\xcc\x81")), "\xc3\xa9");
}

TEST(Tokenizer, Llama3StyleIgnoreMergesAndBos) {
    if (!Tokenizer::available()) GTEST_SKIP() << "SKIPPED: no ICU in this build";
    Spec spec;
    spec.merges = {{"a", "b"}};
    spec.ignoreMerges = true;
    spec.preTokenizer = {
        {"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern",
            {{"Regex",
              R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
           {"behavior", "Isolated"},
           {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
    spec.added = json::array({special("<|begin_of_text|>")});
    spec.postProcessor = {
        {"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"special_tokens",
         {{"<|begin_of_text|>",
           {{"id", "<|begin_of_text|>"}, {"ids", {257}}, {"tokens", {"<|begin_of_text|>"}}}}}}};
    Tokenizer t = make(spec);
    const int32_t ab = *t.tokenId("ab");
    EXPECT_EQ(t.encode("ab 123"), (std::vector<int32_t>{ab, ' ', '1', '2', '3'}));
    EXPECT_EQ(t.encode("ab", {.addSpecialTokens = true}), (std::vector<int32_t>{257, ab}));
}

TEST(Tokenizer, RoundTripsRandomBytesIncludingInvalidUtf8) {
    if (!Tokenizer::available()) GTEST_SKIP() << "SKIPPED: no ICU in this build";
    Spec spec;
    spec.merges = {{"t", "h"}, {"th", "e"}, {" ", "the"}, {"\xc3", "\xa9"}};
    spec.added = json::array({special("<|endoftext|>")});
    Tokenizer gpt2 = make(spec);
    const std::string pieces[] = {"the",
                                  " ",
                                  "\n",
                                  "\xc3\xa9",
                                  "\xe6\x9d\xb1",
                                  "\xf0\x9f\x98\x80",
                                  "'s",
                                  "12345",
                                  "<|endoftext|>",
                                  "\xc2\xa0",
                                  "!?",
                                  "\r\n"};
    const unsigned seed = std::random_device{}();
    std::printf("random seed %u\n", seed);
    std::mt19937 rng(seed);
    for (int n = 0; n < 300; ++n) {
        std::string s;
        const int parts = int(rng() % 20);
        for (int k = 0; k < parts; ++k) {
            if (rng() % 3 == 0) {
                s.push_back(char(rng() % 256));  // often invalid UTF-8
            } else {
                s += pieces[rng() % std::size(pieces)];
            }
        }
        const auto ids = gpt2.encode(s);
        ASSERT_EQ(*gpt2.decode(ids), s) << "seed " << seed << " case " << n;
        ASSERT_EQ(*gpt2.decode(gpt2.encode(s, {.parseSpecialTokens = false})), s)
            << "seed " << seed;
    }
}

TEST(Tokenizer, DecodeRefusesUnknownIds) {
    if (!Tokenizer::available()) GTEST_SKIP() << "SKIPPED: no ICU in this build";
    Tokenizer t = make(Spec{});
    EXPECT_EQ(t.vocabSize(), 256);
    EXPECT_FALSE(t.decode({256}));
    EXPECT_FALSE(t.decode({-1}));
}

// MOD-6 and unsupported types: a clear error naming the problem, before large allocations.
TEST(Tokenizer, RefusesBadOrUnsupportedFiles) {
    if (!Tokenizer::available()) GTEST_SKIP() << "SKIPPED: no ICU in this build";
    const json base = makeJson(Spec{});
    auto expectError = [](const json& j, const std::string& fragment) {
        auto t = Tokenizer::parse(j.dump(), "bad.json");
        ASSERT_FALSE(t) << fragment;
        EXPECT_NE(t.error().find(fragment), std::string::npos) << t.error();
        EXPECT_EQ(t.error().rfind("bad.json: ", 0), 0u) << t.error();
    };
    json j = base;
    j["model"]["type"] = "WordPiece";
    expectError(j, "model type \"WordPiece\" is not supported");
    j["model"]["type"] = "Unigram";
    expectError(j, "model type \"Unigram\" is not supported");
    j = base;
    j["model"]["vocab"].erase("a");  // a hole at 97; "b" listed again keeps the count up
    j["added_tokens"] = json::array({special("b", false, true)});
    j["added_tokens"][0]["id"] = 98;
    expectError(j, "no token has id 97");
    j = base;
    j["model"]["vocab"]["zz"] = 1 << 30;
    expectError(j, "not an integer in [0, 2^24)");
    j = base;
    j["model"]["vocab"]["zz"] = 100000;
    expectError(j, "leaves ids unused");
    j = base;
    j["model"]["merges"] = json::array();
    for (int k = 0; k < 300; ++k) j["model"]["merges"].push_back("a b");
    expectError(j, "more than the vocabulary's 256 tokens");
    j = base;
    j["model"]["merges"] = {"a q"};
    expectError(j, "names a token outside the vocab");
    j = base;
    j["pre_tokenizer"] = {
        {"type", "Split"}, {"pattern", {{"Regex", "\\w+"}}}, {"behavior", "Isolated"}};
    expectError(j, "Split pattern");
    j = base;
    j["pre_tokenizer"] = {{"type", "Whitespace"}};
    expectError(j, "pre-tokenizer \"Whitespace\" is not supported");
    j = base;
    j["normalizer"] = {{"type", "Precompiled"}};
    expectError(j, "normalizer \"Precompiled\" is not supported");
    j = base;
    j["decoder"] = {{"type", "WordPiece"}};
    expectError(j, "decoder \"WordPiece\" is not supported");
    auto invalid = Tokenizer::parse("{\"model\": {\"vocab\": {\"\xff\": 0}}}", "bad.json");
    ASSERT_FALSE(invalid);
    EXPECT_NE(invalid.error().find("invalid JSON"), std::string::npos) << invalid.error();
    auto dup = Tokenizer::parse(R"({"model": {"type": "BPE", "type": "BPE"}})", "bad.json");
    ASSERT_FALSE(dup);
    EXPECT_NE(dup.error().find("duplicate key"), std::string::npos) << dup.error();
}

TEST(Tokenizer, AWholeMegabyteWordStaysFast) {
    if (!Tokenizer::available()) GTEST_SKIP() << "SKIPPED: no ICU in this build";
    Spec spec;
    spec.merges = {{"a", "a"}, {"aa", "aa"}, {"aaaa", "aaaa"}};
    Tokenizer t = make(spec);
    const std::string word(1 << 20, 'a');
    const auto ids = t.encode(word);
    EXPECT_EQ(ids.size(), size_t(1 << 17));  // all "aaaaaaaa"
    EXPECT_EQ(*t.decode(ids), word);
}

// The fuzz seeds are written by Python (tests/io/data/make_fuzz_seeds.py) with its own
// bytes_to_unicode, so loading them also checks the C++ byte map independently.
TEST(Tokenizer, PythonWrittenSeedFilesLoadAndEncode) {
    if (!Tokenizer::available()) GTEST_SKIP() << "SKIPPED: no ICU in this build";
    const std::string dir =
        std::string(LECTERN_SOURCE_DIR) + "/tests/fuzz/corpus/fuzz_tokenizer_json/";
    for (const char* name : {"gpt2.json", "neox.json", "llama3.json"}) {
        auto t = Tokenizer::load(dir + name);
        ASSERT_TRUE(t) << t.error();
        const auto ids = t->encode("the theme");
        // " the" is one merged token in every seed; "the" and "me" follow from the merges.
        EXPECT_EQ(pieces(*t, ids), (Strs{"the", " the", "m", "e"})) << name;
    }
    auto wordpiece = Tokenizer::load(dir + "wordpiece.json");
    ASSERT_FALSE(wordpiece);
    EXPECT_NE(wordpiece.error().find("\"WordPiece\" is not supported"), std::string::npos);
}
