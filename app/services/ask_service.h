// Asking questions of a document or a collection: take its state from the cache (resident,
// host, disk, or rebuilt by reading the text once), fork it per question, read the question
// in the model's prompt format, and decode the answer token by token (streamed to a
// callback) until a stop string, the end-of-text token or the token limit. Several questions
// share one state. Each answer comes with supporting passages from the store's full-text
// index (passages.h: found by search, not cited by the model) and its timings.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "generate/generator.h"
#include "passages.h"
#include "prompt_format.h"
#include "state_cache.h"

namespace lectern::services {

struct AskRequest {
    StateKey key;            // the document, or the collection as a whole
    std::string collection;  // its collection's name (scopes the passages)
    int64_t documentId = 0;  // passages from this document only (0: the collection)
    int64_t asOfPage = 0;    // > 0: ask the state after page N (H1's snapshots)
    std::vector<std::string> questions;
};

struct AskOptions {
    int maxTokens = 256;
    generate::SamplingOptions sampling = greedySampling();
    int passageLimit = 5;
    const std::atomic<bool>* cancel = nullptr;
    // Called with each piece of answer text as it is released (question index, text);
    // returning false stops that answer.
    std::function<bool(size_t question, std::string_view text)> onText;
    // Called once the state is ready, before the first question (where it came from).
    std::function<void(const StateResult&)> onState;
    std::function<void(int64_t done, int64_t total)> progress;  // a state being (re)built
    static generate::SamplingOptions greedySampling() {
        generate::SamplingOptions s;
        s.greedy = true;
        return s;
    }
};

struct AskTimings {
    double stateLoadSeconds = 0;        // finding and loading the starting state
    double documentPrefillSeconds = 0;  // reading what the state lacked (0 when it had all)
    double questionPrefillSeconds = 0;  // reading the prompt after the document
    double firstTokenSeconds = 0;       // from the question's start to the first answer token
    double decodeSeconds = 0;           // all answer tokens
    double tokensPerSecond = 0;         // answer tokens / decodeSeconds
};

struct AskAnswer {
    std::string question, answer;
    generate::StopReason stop = generate::StopReason::MaxTokens;
    int64_t answerTokens = 0;
    StateTier from = StateTier::Rebuilt;
    int64_t stateTokens = 0;  // tokens of document the state held (as of the page, if given)
    AskTimings timings;
    std::vector<Passage> passages;
};

// "restored" for a state read from the host tier or disk, else the tier's name; what
// `ask --json` reports as resident | restored | rebuilt.
const char* stateOriginName(StateTier tier);

class AskService {
public:
    // `store` is used for passages (its own connection; the cache has another).
    AskService(StateCache& cache, store::Store& store, PromptFormat format)
        : cache_(&cache), store_(&store), format_(std::move(format)) {}

    // Checks every question first (prompt_format.h questionCheck) and fails before any work
    // if one is bad. One answer per question, in order.
    Expected<std::vector<AskAnswer>> ask(const AskRequest& request, const AskOptions& options);

    const PromptFormat& format() const { return format_; }

private:
    Expected<AskAnswer> answerOne(const Session& state, size_t index, const std::string& question,
                                  const AskRequest& request, const AskOptions& options);

    StateCache* cache_;
    store::Store* store_;
    PromptFormat format_;
};

}  // namespace lectern::services
