// Token streams for training from plain files: without a tokenizer every byte is one
// token (ids 0..255). Each file is one document, split by position into a training part
// (the first 1 − valFraction of its bytes) and a validation part (the rest), so the two
// never share text. Training windows of L tokens are drawn at seeded random offsets; the
// stream's whole position is the RNG state plus the count drawn, saved in checkpoints so a
// resumed run draws exactly the windows the uninterrupted run would have.
// With a window-start byte (fromFiles' windowStartAfter), a file whose training part holds
// that byte is a file of examples: its windows start only at the file's start or right
// after the byte (an example's start), so an example no longer than a window keeps its
// beginning (a fact) and its end (the question). Each example start is drawn with the
// weight of its example's bytes, so such a file keeps its share of the windows by bytes;
// files without the byte keep random offsets.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "lectern/status.h"

namespace lectern::train {

class ByteDataStream {
public:
    // windowStartAfter: a byte 0..255 (above), or -1 for random offsets everywhere.
    static Expected<ByteDataStream> fromFiles(const std::vector<std::string>& paths,
                                              double valFraction, uint64_t seed,
                                              int windowStartAfter = -1);
    static ByteDataStream fromBytes(const std::string& bytes, double valFraction, uint64_t seed);
    // Whole documents (a store collection's), split BY DOCUMENT: a seeded shuffle puts
    // round(valFraction · n) of them (at least 1 when n ≥ 2 and valFraction > 0, never all)
    // in validation; each side is the documents' bytes packed with kDocSeparator between.
    static Expected<ByteDataStream> fromDocuments(const std::vector<std::string>& docs,
                                                  double valFraction, uint64_t seed);
    static constexpr int32_t kDocSeparator = 0;  // NUL: never part of stored text
    int64_t validationDocuments() const { return valDocs_; }

    // B windows of L tokens each into out [B, L]; L must not exceed trainTokens().
    void nextBatch(int64_t B, int64_t L, std::vector<int32_t>& out);
    const std::vector<int32_t>& train() const { return train_; }
    const std::vector<int32_t>& validation() const { return val_; }
    int64_t drawn() const { return drawn_; }
    // Example starts found by the window-start byte (0: windows start anywhere).
    int64_t exampleStarts() const { return int64_t(examples_.size()); }

    // The position (RNG state and windows drawn) as text, and back.
    std::string saveState() const;
    Status loadState(const std::string& state);

private:
    // A run of window starts: `count` positions from `first`, each drawn with `weight`.
    struct Starts {
        int64_t first, count, weight;
    };
    void addDocument(const std::string& bytes, double valFraction, int windowStartAfter = -1);
    void buildStarts(int64_t L);
    std::vector<int32_t> train_, val_;
    std::vector<std::pair<int64_t, int64_t>> examples_;  // [start, end) in train_, in order
    std::vector<Starts> starts_;                         // for windows of startsLen_ tokens
    std::vector<uint64_t> cumWeight_;  // cumWeight_[i]: total weight of starts_[0..i]
    int64_t startsLen_ = -1;
    std::mt19937_64 rng_;
    int64_t drawn_ = 0;
    int64_t valDocs_ = 0;
};

}  // namespace lectern::train
