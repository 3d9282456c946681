// The "lectern" FTS5 tokenizer: folding (case, NFKC, diacritics), CJK as characters,
// Arabic, byte offsets, invalid UTF-8, and that the ASCII fast path segments exactly as
// the ICU path does (a query and a document may take different paths).
#include <gtest/gtest.h>

#include <random>

#include "icu_tokenizer.h"

using lectern::store::TextTokenizer;
using lectern::store::tokenizeToStrings;
using Tokens = std::vector<std::string>;

namespace {

struct Token {
    std::string text;
    int start, end;
    bool operator==(const Token&) const = default;
};

void PrintTo(const Token& t, std::ostream* os) {
    *os << '"' << t.text << "\"@" << t.start << '-' << t.end;
}

std::vector<Token> run(bool ascii, std::string_view text) {
    TextTokenizer tokenizer;
    std::vector<Token> out;
    auto sink = [&](std::string_view t, int s, int e) {
        out.push_back({std::string(t), s, e});
        return true;
    };
    if (ascii) {
        tokenizer.tokenizeAscii(text, 0, sink);
    } else {
        tokenizer.tokenizeIcu(text, 0, sink);
    }
    return out;
}

}  // namespace

TEST(IcuTokenizer, FoldsCaseAndDiacritics) {
    EXPECT_EQ(tokenizeToStrings("Café CAFÉ cafe\xCC\x81"), (Tokens{"cafe", "cafe", "cafe"}));
    EXPECT_EQ(tokenizeToStrings("Straße ﬁle ＡＢＣ"), (Tokens{"strasse", "file", "abc"}));
    EXPECT_EQ(tokenizeToStrings("Ångström naïve"), (Tokens{"angstrom", "naive"}));
}

TEST(IcuTokenizer, SplitsCjkIntoCharacters) {
    EXPECT_EQ(tokenizeToStrings("東京都に住む"), (Tokens{"東", "京", "都", "に", "住", "む"}));
    EXPECT_EQ(tokenizeToStrings("契約の解除"), (Tokens{"契", "約", "の", "解", "除"}));
    // Half-width katakana folds to full-width.
    EXPECT_EQ(tokenizeToStrings("ｶﾀ"), (Tokens{"カ", "タ"}));
}

TEST(IcuTokenizer, ArabicDropsVowelMarks) {
    // "kitāb" with and without harakat.
    EXPECT_EQ(tokenizeToStrings("كِتَاب"), tokenizeToStrings("كتاب"));
    EXPECT_EQ(tokenizeToStrings("العقد ينتهي"), (Tokens{"العقد", "ينتهي"}));
}

TEST(IcuTokenizer, ReportsByteOffsetsOfTheInput) {
    const std::string text = "é x 東";
    const auto tokens = run(false, text);
    ASSERT_EQ(tokens.size(), 3u);
    EXPECT_EQ(tokens[0], (Token{"e", 0, 2}));
    EXPECT_EQ(tokens[1], (Token{"x", 3, 4}));
    EXPECT_EQ(tokens[2], (Token{"東", 5, 8}));
}

TEST(IcuTokenizer, InvalidUtf8NeverStopsTokenizing) {
    const std::string text = "ok\xff\xfe bad\xc3 end\xe2\x82";
    const Tokens tokens = tokenizeToStrings(text);
    EXPECT_NE(std::find(tokens.begin(), tokens.end(), "end"), tokens.end());
}

TEST(IcuTokenizer, LongTextIsWindowedWithoutSplittingWords) {
    std::string text;
    for (int i = 0; i < 40000; ++i) text += "wörd" + std::to_string(i % 10) + " ";
    const Tokens tokens = tokenizeToStrings(text);
    ASSERT_EQ(tokens.size(), 40000u);
    for (const std::string& t : tokens) ASSERT_EQ(t.substr(0, 4), "word");
}

TEST(IcuTokenizer, AsciiPathAgreesWithIcuOnKnownCases) {
    for (const char* text :
         {"can't stop", "e.g. 3.14 1,000 a:b std::vector foo_bar _x __ x_",
          "v1.2.3 a.1 1.a 'quoted' end.", "x;y 1;2 a'b' 12'34", "TIMEOUT=30s; ERROR: disk-full"}) {
        EXPECT_EQ(run(true, text), run(false, text)) << text;
    }
}

TEST(IcuTokenizer, AsciiPathAgreesWithIcuOnRandomText) {
    std::mt19937 rng(1234);
    const std::string alphabet = "aZ9_.,':; -\n\t\"/()x1";
    std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
    std::uniform_int_distribution<int> length(1, 24);
    for (int round = 0; round < 5000; ++round) {
        std::string text;
        for (int i = length(rng); i > 0; --i) text += alphabet[pick(rng)];
        ASSERT_EQ(run(true, text), run(false, text)) << "text: [" << text << "]";
    }
}

// The pipeline tokenizes on its extraction threads and the writer's FTS5 insert replays
// the result, so pretokenize() must give exactly the tokenizer's tokens and offsets.
TEST(IcuTokenizer, PretokenizedTokensAreTheTokenizersOwn) {
    std::string longText;
    for (int i = 0; i < 30000; ++i) longText += "Wörd" + std::to_string(i % 7) + " 東京 ";
    for (const std::string& text :
         {std::string("Plain ascii_text, v1.2.3 and CAPITALS"),
          std::string("the cafe\xCC\x81 opens; CAFÉ"), std::string("本契約は東京都の裁判所"),
          std::string("يجوز إنهاء العقد"), std::string("bad \xff\xfe bytes \xc3 end"),
          std::string(), longText}) {
        TextTokenizer tokenizer;
        const lectern::store::PretokenizedText pre = lectern::store::pretokenize(tokenizer, text);
        ASSERT_TRUE(pre.complete);
        EXPECT_EQ(pre.textSize, text.size());
        std::vector<Token> replayed;
        for (const auto& t : pre.tokens) {
            const std::string folded = t.folded == lectern::store::PretokenizedText::kSameAsText
                                           ? text.substr(size_t(t.start), size_t(t.end - t.start))
                                           : pre.foldedBytes.substr(t.folded, t.foldedSize);
            replayed.push_back({folded, t.start, t.end});
        }
        std::vector<Token> direct;
        TextTokenizer().tokenize(text, [&](std::string_view t, int s, int e) {
            direct.push_back({std::string(t), s, e});
            return true;
        });
        ASSERT_EQ(replayed, direct) << text.substr(0, 60);
    }
}
