// Generation and scoring over a Session. generate() continues whatever the session holds
// (a prefilled prompt or a loaded state), token by token through the recurrent step, with
// stop strings matched on the decoded text (across token boundaries), a token limit, an
// end-of-sequence id, a streaming callback and a cancel flag. score() gives each token's
// log-probability under the model (surprisal).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "generate/sampling.h"
#include "lectern/engine.h"

namespace lectern::generate {

// The bytes of one token (a tokenizer's decode of one id, or the byte itself for byte-level
// models). Bytes need not be valid UTF-8 on their own.
using TokenDecoder = std::function<Expected<std::string>(int32_t id)>;
TokenDecoder byteDecoder();  // id < 256: that byte; others: an error

struct TokenEvent {
    int32_t id = 0;
    int index = 0;          // 0 for the first generated token
    std::string_view text;  // newly released text: held back while it may begin a stop string
};

enum class StopReason { MaxTokens, StopString, EndOfSequence, Cancelled, Callback };
const char* stopReasonName(StopReason r);

struct GenerateOptions {
    SamplingOptions sampling;
    int maxTokens = 64;
    std::vector<std::string> stop;         // generation ends at the first; its text is cut
    std::optional<int32_t> endOfSequence;  // an id that ends generation (not in the text)
    std::vector<int32_t> history;          // prompt ids, for the repetition penalty
    std::function<bool(const TokenEvent&)> onToken;  // false stops generation
    const std::atomic<bool>* cancel = nullptr;       // checked before every token
};

struct GenerateResult {
    std::vector<int32_t> ids;  // every generated id (the session has read all of them)
    std::string text;          // their decoded bytes, cut before a stop string
    StopReason reason = StopReason::MaxTokens;
};

// The session (of `model`) must hold at least one token: its lastLogits predict the first
// new one. Each generated id is read into the session, so it ends holding all of them.
Expected<GenerateResult> generate(const Model& model, Session& session,
                                  const GenerateOptions& options, const TokenDecoder& decode);

struct ScoreResult {
    std::vector<double> logprob;  // natural log p(ids[i+1] | ids[0..i]), one per id after the first
    double totalBits = 0.0;       // -Σ logprob / ln 2
};

// Reads `ids` into a fresh session of `model`, in pieces (bounded memory), and scores every
// id after the first under a log-softmax over the real vocabulary.
Expected<ScoreResult> score(const Model& model, std::span<const int32_t> ids,
                            const std::atomic<bool>* cancel = nullptr);

}  // namespace lectern::generate
