// A byte-level BPE tokenizer trainer (GPT-2 style) for training a model from scratch on a
// new corpus: the 256 byte tokens (in GPT-2's byte-to-unicode spelling), then merges of the
// most frequent adjacent pair, counted inside pre-tokens (runs of letters, of digits, of
// other symbols, each with at most one leading space; whitespace apart), until the
// vocabulary reaches its size or no pair occurs twice. Writes a standard tokenizer.json
// (ByteLevel pre-tokenizer and decoder, BPE model) that engine/io/tokenizer_json.h loads.
// The pre-tokens here approximate GPT-2's split regex in ASCII terms; a difference only
// changes which merges are learnt, never correctness: encode/decode are the engine's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lectern/status.h"

namespace lectern::train {

struct BpeTrainOptions {
    int32_t vocabSize = 4096;  // including the 256 byte tokens
    int64_t minPairCount = 2;  // stop when the best pair occurs fewer times
};

struct BpeModel {
    std::vector<std::string> tokens;                          // id → byte-level spelling
    std::vector<std::pair<std::string, std::string>> merges;  // in priority order
};

// Learns merges from the documents' bytes (deterministic: ties go to the smaller pair of
// ids). Errors on vocabSize < 256.
Expected<BpeModel> trainBpe(const std::vector<std::string>& docs, const BpeTrainOptions& o);

// The tokenizer.json text of a model.
std::string bpeTokenizerJson(const BpeModel& m);

}  // namespace lectern::train
