// document_text: pieces with separators and file headers, token ↔ byte ↔ page maps, and
// the prefix hash chain that tells a grown source (same prefix) from a changed one.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "document_text.h"
#include "io/tokenizer_impl.h"

using namespace lectern;
using namespace lectern::services;

namespace {

ingest::Segment page(int64_t n, std::string text) {
    ingest::Segment s;
    s.kind = ingest::SegmentKind::Page;
    s.ordinal = n;
    s.text = std::move(text);
    return s;
}

SourceText pages(std::vector<std::string> texts) {
    SourceText src;
    src.fingerprint = "f";
    SourceDocument d{1, "/a.pdf", {}};
    for (size_t i = 0; i < texts.size(); ++i) d.segments.push_back(page(int64_t(i + 1), texts[i]));
    src.documents.push_back(d);
    return src;
}

}  // namespace

TEST(DocumentText, PagesAreJoinedByFormFeedsAndMapBack) {
    const TextCodec bytes;
    const DocumentText t = buildDocumentText(bytes, StateKey::document(1),
                                             pages({"one two", "three", "four five six"}));
    EXPECT_EQ(t.text, "one two\fthree\ffour five six");
    ASSERT_EQ(t.tokens.size(), t.text.size());  // byte-level: one token per byte
    ASSERT_EQ(t.pieces.size(), 3u);
    for (size_t i = 0; i < t.tokens.size(); ++i) {
        EXPECT_EQ(t.tokenOffsets[i], int64_t(i));
        EXPECT_EQ(t.tokens[i], int32_t(uint8_t(t.text[i])));
    }
    EXPECT_EQ(t.pieceAtByte(0)->page, 1);
    EXPECT_EQ(t.pieceAtByte(8)->page, 2);  // the form feed belongs to the page it opens
    EXPECT_EQ(t.pieceAtToken(20)->page, 3);
    EXPECT_EQ(t.pieceAtByte(int64_t(t.text.size())), nullptr);
    EXPECT_EQ(t.tokenAtByte(9), 9);
    EXPECT_EQ(*t.tokensThroughPage(1), 7);
    EXPECT_EQ(*t.tokensThroughPage(2), 13);
    EXPECT_EQ(*t.tokensThroughPage(3), int64_t(t.tokens.size()));
    EXPECT_FALSE(t.tokensThroughPage(4));
    EXPECT_FALSE(t.tokensThroughPage(0));
}

TEST(DocumentText, PrefixHashSurvivesAppendButNotChange) {
    const TextCodec bytes;
    const auto a = buildDocumentText(bytes, StateKey::document(1), pages({"p1", "p2", "p3"}));
    const auto grown =
        buildDocumentText(bytes, StateKey::document(1), pages({"p1", "p2", "p3", "p4"}));
    const auto changed = buildDocumentText(bytes, StateKey::document(1), pages({"p1", "X2", "p3"}));
    for (size_t k = 0; k <= 3; ++k) EXPECT_EQ(a.prefixHash(k), grown.prefixHash(k)) << k;
    // Tokens of the old text are a prefix of the grown text's tokens.
    ASSERT_LT(a.tokens.size(), grown.tokens.size());
    EXPECT_TRUE(std::equal(a.tokens.begin(), a.tokens.end(), grown.tokens.begin()));
    EXPECT_EQ(a.prefixHash(1), changed.prefixHash(1));
    EXPECT_NE(a.prefixHash(2), changed.prefixHash(2));
    EXPECT_NE(a.prefixHash(3), changed.prefixHash(3));
    EXPECT_EQ(a.piecesBegun(0), 0u);
    EXPECT_EQ(a.piecesBegun(1), 1u);
    EXPECT_EQ(a.piecesBegun(2), 1u);  // "p1" ends at 2: page 2 not begun
    EXPECT_EQ(a.piecesBegun(3), 2u);
}

TEST(DocumentText, CollectionStreamHasFileHeadersInOrder) {
    const TextCodec bytes;
    SourceText src;
    ingest::Segment l;
    l.kind = ingest::SegmentKind::Lines;
    l.lineStart = l.lineEnd = 1;
    l.text = "int x;";
    src.documents.push_back({4, "src/a.c", {l}});
    l.text = "int y;";
    src.documents.push_back({9, "src/b.c", {l}});
    const DocumentText t = buildDocumentText(bytes, StateKey::collection(2), src);
    EXPECT_EQ(t.text, fileHeader("src/a.c") + "int x;\n\n" + fileHeader("src/b.c") + "int y;");
    ASSERT_EQ(t.pieces.size(), 4u);
    EXPECT_EQ(t.pieces[0].segment, -1);
    EXPECT_EQ(t.pieces[0].documentId, 4);
    EXPECT_EQ(t.pieces[3].documentId, 9);
    EXPECT_EQ(t.pieceAtByte(int64_t(t.text.size()) - 1)->documentId, 9);
    EXPECT_FALSE(t.tokensThroughPage(1));  // pages need one document
}

TEST(DocumentText, EmptySourceHasNoTokens) {
    const TextCodec bytes;
    const DocumentText t = buildDocumentText(bytes, StateKey::document(1), pages({}));
    EXPECT_TRUE(t.tokens.empty());
    EXPECT_EQ(t.prefixHash(0), "0");
    EXPECT_EQ(t.pieceAtToken(0), nullptr);
    EXPECT_EQ(t.tokenAtByte(5), 0);
}

namespace {

// A byte-level BPE tokenizer.json with a few merges, and an end-of-text special token.
std::string tinyTokenizerJson() {
    nlohmann::json vocab = nlohmann::json::object();
    int next = 0;
    for (int b = 0; b < 256; ++b) vocab[io::byteLevelString(std::string(1, char(b)))] = next++;
    nlohmann::json merges = nlohmann::json::array();
    for (auto [a, b] : std::vector<std::pair<std::string, std::string>>{
             {"t", "h"}, {"th", "e"}, {"g", "e"}, {"p", "a"}, {"pa", "ge"}}) {
        if (!vocab.contains(io::byteLevelString(a + b))) vocab[io::byteLevelString(a + b)] = next++;
        merges.push_back(io::byteLevelString(a) + " " + io::byteLevelString(b));
    }
    nlohmann::json added = nlohmann::json::array();
    added.push_back({{"id", next},
                     {"content", "<|endoftext|>"},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
    nlohmann::json j = {
        {"version", "1.0"},
        {"added_tokens", added},
        {"normalizer", nullptr},
        {"pre_tokenizer",
         {{"type", "ByteLevel"},
          {"add_prefix_space", false},
          {"trim_offsets", true},
          {"use_regex", true}}},
        {"post_processor", nullptr},
        {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}}},
        {"model",
         {{"type", "BPE"},
          {"dropout", nullptr},
          {"unk_token", nullptr},
          {"continuing_subword_prefix", nullptr},
          {"end_of_word_suffix", nullptr},
          {"fuse_unk", false},
          {"byte_fallback", false},
          {"ignore_merges", false},
          {"vocab", vocab},
          {"merges", merges}}}};
    return j.dump();
}

}  // namespace

TEST(DocumentText, TokenOffsetsWithABpeTokenizer) {
    if (!io::Tokenizer::available()) {
        GTEST_SKIP() << "no ICU in this build";
    }
    auto tok = io::Tokenizer::parse(tinyTokenizerJson(), "tiny.json");
    ASSERT_TRUE(tok) << tok.error();
    const TextCodec codec(std::move(*tok));
    ASSERT_TRUE(codec.endOfText());
    const DocumentText t = buildDocumentText(
        codec, StateKey::document(1), pages({"the page", "then <|endoftext|> the end", "é the"}));
    ASSERT_LT(t.tokens.size(), t.text.size());  // merges happened
    // Every token decodes to the bytes at its offset: the map is exact.
    for (size_t i = 0; i < t.tokens.size(); ++i) {
        auto bytes = codec.decode({t.tokens[i]});
        ASSERT_TRUE(bytes);
        EXPECT_EQ(t.text.substr(size_t(t.tokenOffsets[i]), bytes->size()), *bytes) << i;
        if (i + 1 < t.tokens.size()) {
            EXPECT_EQ(t.tokenOffsets[i] + int64_t(bytes->size()), t.tokenOffsets[i + 1]);
        }
        // A document's "<|endoftext|>" is text, never the special token.
        EXPECT_NE(t.tokens[i], *codec.endOfText());
    }
    const int64_t page3 = int64_t(t.text.find("é"));
    EXPECT_EQ(t.pieceAtToken(t.tokenAtByte(page3))->page, 3);
}
