// TXT-1 (invalid UTF-8 table with exact replacement counts, also split at every chunk
// boundary), TXT-2 (BOMs, NULs), TXT-3 (NFD -> NFC), charset detection, and the bound on
// what any single ICU call is handed.
#include <gtest/gtest.h>
#include <unicode/utf8.h>

#include <string>

#include "ingest/extractors/text_decode.h"

using lectern::ingest::DecodeStats;
using lectern::ingest::TextDecoder;

namespace {

// Independent validity check with ICU's U8_NEXT: the count of negative results.
int invalidByU8Next(const std::string& s) {
    int bad = 0;
    int32_t i = 0;
    while (i < int32_t(s.size())) {
        UChar32 c;
        U8_NEXT(s.data(), i, int32_t(s.size()), c);
        bad += c < 0;
    }
    return bad;
}

std::string decodeInPieces(const std::string& bytes, size_t piece, DecodeStats* stats) {
    TextDecoder d;
    std::string out;
    for (size_t i = 0; i < bytes.size(); i += piece) {
        EXPECT_TRUE(d.decode(std::string_view(bytes).substr(i, piece), out).isOk());
    }
    EXPECT_TRUE(d.finish(out).isOk());
    *stats = d.stats();
    return out;
}

struct Row {
    const char* name;
    std::string bytes;
    int64_t replacedBytes;
    int64_t replacementChars;
};

// The context holds valid multi-byte UTF-8, so detection settles on UTF-8 with damage.
const std::string kPrefix = "na\xC3\xAFve caf\xC3\xA9 \xE2\x80\x94 [";

TEST(TextDecode, InvalidUtf8TableHasExactCounts) {
    const Row rows[] = {
        {"overlong C0 AF", "\xC0\xAF", 2, 2},
        {"surrogate ED A0 80", "\xED\xA0\x80", 3, 3},
        {"above U+10FFFF F4 90 80 80", "\xF4\x90\x80\x80", 4, 4},
        {"lone continuation 80", "\x80", 1, 1},
        {"FF", "\xFF", 1, 1},
        {"truncated E2 82 then text", "\xE2\x82]", 2, 1},
        {"truncated F0 9F 98 then text", "\xF0\x9F\x98]", 3, 1},
        {"valid 4-byte emoji", "\xF0\x9F\x98\x80", 0, 0},
    };
    for (const Row& row : rows) {
        const std::string input = kPrefix + row.bytes + "] end\n";
        for (size_t piece : {input.size(), size_t(1), size_t(2), size_t(3), size_t(5)}) {
            DecodeStats stats;
            const std::string out = decodeInPieces(input, piece, &stats);
            SCOPED_TRACE(std::string(row.name) + ", piece " + std::to_string(piece));
            EXPECT_EQ(stats.charset, "UTF-8");
            EXPECT_EQ(stats.replacedBytes, row.replacedBytes);
            EXPECT_EQ(stats.replacementChars, row.replacementChars);
            EXPECT_EQ(invalidByU8Next(out), 0);
            EXPECT_EQ(out.rfind(kPrefix, 0), 0u);
            EXPECT_NE(out.find("] end\n"), std::string::npos);
        }
    }
}

TEST(TextDecode, SequenceTruncatedAtEndOfFile) {
    DecodeStats stats;
    const std::string out = decodeInPieces(kPrefix + "\xE2\x82", 4, &stats);
    EXPECT_EQ(stats.replacedBytes, 2);
    EXPECT_EQ(stats.replacementChars, 1);
    EXPECT_EQ(out, kPrefix + "\xEF\xBF\xBD");
}

TEST(TextDecode, SequenceSplitAtTheInternalPieceBoundary) {
    // A euro sign straddling the decoder's own 1 MiB step must survive intact.
    std::string input(TextDecoder::kMaxPiece - 1, 'a');
    input += "\xE2\x82\xAC tail \xC3\xA9";
    DecodeStats stats;
    const std::string out = decodeInPieces(input, input.size(), &stats);
    EXPECT_EQ(stats.replacedBytes, 0);
    EXPECT_EQ(out, input);
}

TEST(TextDecode, Utf16BomsAndLoneSurrogate) {
    const std::string le(
        "\xFF\xFE"
        "Z\0\xFC\0r\0i\0\r\0\n\0"
        "x\0",
        16);
    DecodeStats stats;
    EXPECT_EQ(decodeInPieces(le, 3, &stats), "Z\xC3\xBCri\r\nx");
    EXPECT_EQ(stats.charset, "UTF-16LE");
    EXPECT_TRUE(stats.bom);
    const std::string be("\xFE\xFF\0Z\0\xFC\0\n", 8);
    EXPECT_EQ(decodeInPieces(be, 1, &stats), "Z\xC3\xBC\n");
    EXPECT_EQ(stats.charset, "UTF-16BE");
    // A lead surrogate followed by 'A': two bytes replaced by one U+FFFD.
    const std::string lone(
        "\xFF\xFE\x00\xD8"
        "A\0",
        6);
    EXPECT_EQ(decodeInPieces(lone, 6, &stats),
              "\xEF\xBF\xBD"
              "A");
    EXPECT_EQ(stats.replacedBytes, 2);
    EXPECT_EQ(stats.replacementChars, 1);
}

TEST(TextDecode, Utf16WithoutBomIsDetectedByItsNuls) {
    std::string le;
    for (char c : std::string("plain ascii text in UTF-16, no byte-order mark\n")) {
        le += c;
        le += '\0';
    }
    DecodeStats stats;
    EXPECT_EQ(decodeInPieces(le, 7, &stats), "plain ascii text in UTF-16, no byte-order mark\n");
    EXPECT_EQ(stats.charset, "UTF-16LE");
    EXPECT_FALSE(stats.bom);
    EXPECT_EQ(stats.nulChars, 0);
}

TEST(TextDecode, Utf8BomIsRemovedAndNulsDropped) {
    DecodeStats stats;
    EXPECT_EQ(decodeInPieces(std::string("\xEF\xBB\xBF"
                                         "a\0b\0\0c",
                                         9),
                             2, &stats),
              "abc");
    EXPECT_TRUE(stats.bom);
    EXPECT_EQ(stats.nulChars, 3);
    EXPECT_EQ(stats.replacedBytes, 0);
}

TEST(TextDecode, NfdBecomesNfcEvenAcrossPieces) {
    const std::string nfd =
        "Cafe\xCC\x81 re\xCC\x81sume\xCC\x81 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E";
    const std::string nfc = "Caf\xC3\xA9 r\xC3\xA9sum\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E";
    for (size_t piece : {size_t(1), size_t(4), size_t(5), nfd.size()}) {
        DecodeStats stats;
        EXPECT_EQ(decodeInPieces(nfd, piece, &stats), nfc) << "piece " << piece;
    }
}

TEST(TextDecode, Latin1IsDetected) {
    std::string latin;
    for (int i = 0; i < 40; ++i)
        latin +=
            "Caf\xE9 cr\xE8me br\xFBl\xE9"
            "e, na\xEFve fa\xE7"
            "ade. ";
    DecodeStats stats;
    const std::string out = decodeInPieces(latin, 100, &stats);
    EXPECT_EQ(stats.replacedBytes, 0);
    EXPECT_NE(out.find("Caf\xC3\xA9 cr\xC3\xA8me br\xC3\xBBl\xC3\xA9"
                       "e"),
              std::string::npos)
        << "charset " << stats.charset;
}

TEST(TextDecode, NoIcuCallSeesMoreThanOnePiece) {
    // 8 MiB of non-ASCII text fed in one call: ICU only ever sees bounded pieces.
    std::string big;
    while (big.size() < (size_t(8) << 20)) big += "e\xCC\x81 \xE6\x97\xA5\xE6\x9C\xAC ";
    TextDecoder d;
    std::string out;
    ASSERT_TRUE(d.decode(big, out).isOk());
    ASSERT_TRUE(d.finish(out).isOk());
    EXPECT_GT(d.stats().maxIcuUnits, 0);
    EXPECT_LE(d.stats().maxIcuUnits, int64_t(2 * TextDecoder::kMaxPiece));
    EXPECT_EQ(invalidByU8Next(out), 0);
}

}  // namespace
