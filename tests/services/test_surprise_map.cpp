// The surprise map's aggregation on hand-made inputs: lines, ICU sentences and pages get
// the tokens that begin inside them, tokens without a value (NaN) are skipped, the ranking
// prefers spans with enough tokens, and malformed inputs are errors, not crashes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "surprise_map.h"

namespace lectern::services {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Byte-level tokens: token t is byte t.
std::vector<int64_t> byteEnds(std::string_view text) {
    std::vector<int64_t> e;
    for (size_t i = 0; i < text.size(); ++i) e.push_back(int64_t(i) + 1);
    return e;
}

std::vector<SurpriseSpan> ofUnit(const SurpriseMap& m, SurpriseUnit u) {
    std::vector<SurpriseSpan> out;
    for (const auto& s : m.spans)
        if (s.unit == u) out.push_back(s);
    return out;
}

TEST(SurpriseMap, LinesTakeTheirTokensAndSkipNaN) {
    const std::string text = "ab\ncd\n\nef";
    const auto ends = byteEnds(text);
    const std::vector<float> bits = {kNaN, 1, 2, 3, 5, 7, 11, 13, 17};
    SurpriseInput in{text, ends, bits, {}};
    auto m = surpriseMapBuild(in);
    ASSERT_TRUE(m) << m.error();
    EXPECT_EQ(m->tokenCount, 8);
    EXPECT_NEAR(m->meanBits, (1 + 2 + 3 + 5 + 7 + 11 + 13 + 17) / 8.0, 1e-12);
    const auto lines = ofUnit(*m, SurpriseUnit::Line);
    ASSERT_EQ(lines.size(), 4u);
    // "ab\n": the first token has no value, so 2 tokens: 1 and 2.
    EXPECT_EQ(lines[0].tokens, 2);
    EXPECT_NEAR(lines[0].meanBits, 1.5, 1e-12);
    EXPECT_EQ(lines[0].maxBits, 2);
    EXPECT_EQ(lines[1].byteStart, 3);
    EXPECT_EQ(lines[1].byteEnd, 6);
    EXPECT_NEAR(lines[1].meanBits, (3 + 5 + 7) / 3.0, 1e-12);
    EXPECT_EQ(lines[2].lineStart, 3);  // the empty line: its newline only
    EXPECT_EQ(lines[2].tokens, 1);
    EXPECT_EQ(lines[3].lineStart, 4);
    EXPECT_EQ(lines[3].lineEnd, 4);
    EXPECT_NEAR(lines[3].meanBits, 15, 1e-12);
    for (const auto& l : lines) EXPECT_EQ(l.page, 0) << "no pages given";
}

TEST(SurpriseMap, ABlankLineEndsASentenceAWrappedLineDoesNot) {
    auto r = sentenceRanges("A heading\n\nThe text wraps\nhere. Next one.");
    ASSERT_TRUE(r) << r.error();
    ASSERT_EQ(r->size(), 3u);
    EXPECT_EQ((*r)[1], (std::pair<int64_t, int64_t>{11, 32}));  // "The text wraps\nhere. "
}

TEST(SurpriseMap, SentencesFollowIcuBoundariesInBytes) {
    auto r = sentenceRanges("Größe zählt. Wirklich? Ja!");
    ASSERT_TRUE(r) << r.error();
    ASSERT_EQ(r->size(), 3u);
    // "Größe zählt. " is 13 characters and 16 bytes (ö, ß, ä take two each).
    EXPECT_EQ((*r)[0], (std::pair<int64_t, int64_t>{0, 16}));
    EXPECT_EQ((*r)[1].first, 16);
    EXPECT_EQ((*r)[2].second, int64_t(std::string("Größe zählt. Wirklich? Ja!").size()));
}

TEST(SurpriseMap, MultiByteTokensAndPagesAndLineNumbersOfSentences) {
    // Tokens of 3 bytes; two pages; a sentence wrapped over lines 1-2; a page break.
    const std::string text = "One two\nthree. Four.\fFive six.";
    std::vector<int64_t> ends;
    for (int64_t e = 3; e < int64_t(text.size()); e += 3) ends.push_back(e);
    ends.push_back(int64_t(text.size()));
    std::vector<float> bits(ends.size(), 2.0f);
    bits.back() = 10.0f;
    const int64_t ff = int64_t(text.find('\f'));
    SurpriseInput in{text, ends, bits, {{1, 0, ff + 1}, {2, ff + 1, int64_t(text.size())}}};
    auto m = surpriseMapBuild(in);
    ASSERT_TRUE(m) << m.error();
    const auto sentences = ofUnit(*m, SurpriseUnit::Sentence);
    ASSERT_EQ(sentences.size(), 3u);
    EXPECT_EQ(sentences[0].byteEnd, int64_t(text.find("Four")));
    EXPECT_EQ(sentences[2].byteStart, int64_t(text.find("Five")));
    EXPECT_EQ(sentences[0].lineStart, 1);
    EXPECT_EQ(sentences[0].lineEnd, 2);
    EXPECT_EQ(sentences[0].page, 1);
    EXPECT_EQ(sentences.back().page, 2);
    const auto pages = ofUnit(*m, SurpriseUnit::Page);
    ASSERT_EQ(pages.size(), 2u);
    EXPECT_EQ(pages[0].page, 1);
    EXPECT_EQ(pages[1].page, 2);
    int64_t total = 0;
    for (const auto& p : pages) total += p.tokens;
    EXPECT_EQ(total, int64_t(ends.size())) << "every token lands in exactly one page";
    EXPECT_EQ(pages[1].maxBits, 10.0);
}

TEST(SurpriseMap, TopRanksByMeanAmongSpansWithEnoughTokens) {
    const std::string text = "a\nbbbbbb\ncccccc\n";
    const auto ends = byteEnds(text);
    std::vector<float> bits(ends.size(), 1.0f);
    bits[0] = 50.0f;  // line 1: "a\n" has the highest mean but only 2 tokens
    for (int i = 9; i < 16; ++i) bits[size_t(i)] = 4.0f;  // line 3
    auto m = surpriseMapBuild({text, ends, bits, {}});
    ASSERT_TRUE(m) << m.error();
    auto top = surpriseTop(*m, SurpriseUnit::Line, 2, 4);
    ASSERT_EQ(top.size(), 2u);
    EXPECT_EQ(top[0].lineStart, 3);
    EXPECT_EQ(top[1].lineStart, 2);
    // With no span long enough, short ones are ranked rather than nothing shown.
    auto any = surpriseTop(*m, SurpriseUnit::Line, 1, 100);
    ASSERT_EQ(any.size(), 1u);
    EXPECT_EQ(any[0].lineStart, 1);
}

TEST(SurpriseMap, MalformedInputsAreErrors) {
    const std::string text = "abc";
    const std::vector<int64_t> ends = {1, 2, 3};
    const std::vector<float> two = {1, 2};
    auto a = surpriseMapBuild({text, ends, two, {}});
    ASSERT_FALSE(a);
    EXPECT_NE(a.error().find("2 surprisal values for 3 tokens"), std::string::npos) << a.error();
    const std::vector<int64_t> past = {1, 2, 9};
    const std::vector<float> three = {1, 2, 3};
    EXPECT_FALSE(surpriseMapBuild({text, past, three, {}}));
    const std::vector<int64_t> back = {2, 1, 3};
    EXPECT_FALSE(surpriseMapBuild({text, back, three, {}}));
}

TEST(SurpriseMap, EmptyTextGivesAnEmptyMap) {
    auto m = surpriseMapBuild({"", {}, {}, {}});
    ASSERT_TRUE(m) << m.error();
    EXPECT_EQ(m->tokenCount, 0);
    EXPECT_TRUE(m->spans.empty());
}

TEST(SurpriseMap, TokenEndsFromLengthsIsTheRunningSum) {
    const std::vector<int64_t> lens = {1, 3, 0, 2};
    EXPECT_EQ(tokenEndsFromLengths(lens), (std::vector<int64_t>{1, 4, 4, 6}));
}

}  // namespace
}  // namespace lectern::services
