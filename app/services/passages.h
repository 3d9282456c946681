// Passages that support an answer: the store's own full-text search (FTS5, BM25) on the
// salient words of the question and of the answer, kept inside the document when one is
// given. These are retrieved by word overlap, NOT cited by the model: the model read the
// whole document into its state and cannot point at where it looked. Callers show them
// under the label kPassagesLabel.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lectern/status.h"
#include "store.h"

namespace lectern::services {

inline constexpr const char* kPassagesLabel =
    "passages that support it (found by search, not cited by the model)";

struct Passage {
    int64_t documentId = 0;
    std::string path;
    ingest::SegmentKind kind = ingest::SegmentKind::Lines;
    int64_t page = 0;  // for PDF pages, else 0
    int64_t lineStart = 0, lineEnd = 0;
    std::string label;  // "page 3", "row 17", a heading
    std::string snippet;
    std::string location;              // "page 3", "lines 10-14", "row 17"
    std::vector<std::string> matched;  // the words it was found by
    double score = 0.0;                // higher is better: Σ over matched words of -BM25
};

struct PassageRequest {
    std::string collection;
    int64_t documentId = 0;  // 0: the whole collection
    // > 0: only pages 1..maxPage (a question asked "as of page N": the model read no
    // further, so a passage from a later page would support what it could not know).
    // Passages without a page (lines, rows) are left out too.
    int64_t maxPage = 0;
    std::string question, answer;
    int limit = 5;
    std::string markOpen = "[", markClose = "]";
};

// Up to 8 salient words of `text` in order of appearance: lowercased, at least 3 letters,
// not an English stop word, each once.
std::vector<std::string> salientWords(std::string_view text, size_t maxWords = 8);

// Ranked passages: one search per salient word (question and answer), scores summed per
// passage, so a passage holding more of the words ranks higher. No words: an empty list.
Expected<std::vector<Passage>> passagesFind(store::Store& store, const PassageRequest& request);

// "page 3", "lines 10-14", "row 17, line 3"… as `lectern-cli search` shows a hit.
std::string passageLocation(ingest::SegmentKind kind, int64_t ordinal, int64_t lineStart,
                            int64_t lineEnd, const std::string& label);

}  // namespace lectern::services
