// The surprise map of a document: the model's per-token surprisal (bits, from
// PrefillOptions::surprisalBits) gathered into the units a reader looks at, namely lines
// (code and text), sentences (prose, ICU sentence boundaries) and pages, and the most
// surprising of them ranked. Pure functions over the text the model read; the store
// tables live in surprise_store.h.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lectern/status.h"

namespace lectern::services {

enum class SurpriseUnit { Line, Sentence, Page };
const char* surpriseUnitName(SurpriseUnit unit);  // "line" / "sentence" / "page"

struct SurpriseSpan {
    SurpriseUnit unit = SurpriseUnit::Line;
    int64_t ordinal = 0;  // 0-based within its unit
    int64_t page = 0;     // page holding its first byte; 0 when the document has no pages
    int64_t lineStart = 0, lineEnd = 0;  // 1-based inclusive lines of the document text
    int64_t byteStart = 0, byteEnd = 0;  // [start, end) in the document text
    int64_t tokens = 0;                  // tokens that begin inside it and have a value
    double meanBits = 0.0, maxBits = 0.0;
};

struct PageRange {
    int64_t page = 0;  // its number as the document shows it (1-based)
    int64_t byteStart = 0, byteEnd = 0;
};

struct SurpriseInput {
    std::string_view text;               // the document text the model read, UTF-8
    std::span<const int64_t> tokenEnds;  // token t covers [tokenEnds[t-1], tokenEnds[t])
    std::span<const float> bits;         // one per token; NaN: no prediction (skipped)
    std::vector<PageRange> pages;        // empty when the document has no pages
};

struct SurpriseMap {
    int64_t tokenCount = 0;  // tokens with a value
    double meanBits = 0.0;
    std::vector<SurpriseSpan> spans;  // lines, then sentences, then pages, each in order
};

// Errors when tokenEnds and bits differ in length, or tokenEnds is not non-decreasing
// within the text.
Expected<SurpriseMap> surpriseMapBuild(const SurpriseInput& input);

// The `top` most surprising spans of `unit` by mean bits (ties: more tokens first), those
// with at least `minTokens` tokens; when none has that many, any span with a token.
std::vector<SurpriseSpan> surpriseTop(const SurpriseMap& map, SurpriseUnit unit, int top,
                                      int64_t minTokens = 4);

// Byte ranges [start, end) of the sentences of UTF-8 `text` by ICU's sentence
// BreakIterator (root locale), covering the whole text. A lone newline or a form feed does
// not end a sentence (wrapped lines, page breaks); a blank line does.
Expected<std::vector<std::pair<int64_t, int64_t>>> sentenceRanges(std::string_view text);

// The byte offset where each token of `tokenBytes` (the decoded bytes of each token, in
// order) ends: their running sum.
std::vector<int64_t> tokenEndsFromLengths(std::span<const int64_t> tokenBytes);

}  // namespace lectern::services
