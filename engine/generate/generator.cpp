// generate() and score(). The stop-string scan looks only at the text a new token could
// have completed (the tail as long as the longest stop string), and streaming holds back
// the longest tail that is a prefix of some stop string, so no part of a stop string ever
// reaches the callback.
#include "generate/generator.h"

#include <algorithm>
#include <cmath>

namespace lectern::generate {
namespace {

// Length of the longest suffix of `text` that is a proper prefix of some stop string.
size_t heldBack(std::string_view text, const std::vector<std::string>& stops) {
    size_t best = 0;
    for (const std::string& s : stops) {
        for (size_t n = std::min(s.size() - 1, text.size()); n > best; --n) {
            if (text.substr(text.size() - n) == std::string_view(s).substr(0, n)) {
                best = n;
                break;
            }
        }
    }
    return best;
}

// The earliest stop-string match that ends after `from` (where the new token's text began).
std::optional<size_t> findStop(std::string_view text, size_t from,
                               const std::vector<std::string>& stops) {
    std::optional<size_t> at;
    for (const std::string& s : stops) {
        const size_t start = from >= s.size() - 1 ? from - (s.size() - 1) : 0;
        const size_t pos = text.find(s, start);
        if (pos != std::string_view::npos && (!at || pos < *at)) at = pos;
    }
    return at;
}

}  // namespace

TokenDecoder byteDecoder() {
    return [](int32_t id) -> Expected<std::string> {
        if (id < 0 || id > 255)
            return Status::error("token id " + std::to_string(id) +
                                 " is not a byte (no tokenizer.json: byte-level ids)");
        return std::string(1, char(uint8_t(id)));
    };
}

const char* stopReasonName(StopReason r) {
    switch (r) {
        case StopReason::MaxTokens:
            return "max tokens";
        case StopReason::StopString:
            return "stop string";
        case StopReason::EndOfSequence:
            return "end of sequence";
        case StopReason::Cancelled:
            return "cancelled";
        case StopReason::Callback:
            return "stopped by the caller";
    }
    return "?";
}

Expected<GenerateResult> generate(const Model& model, Session& session, const GenerateOptions& o,
                                  const TokenDecoder& decode) {
    if (Status s = validate(o.sampling); !s) return s;
    if (o.maxTokens < 0) return Status::error("max tokens must be >= 0");
    for (const std::string& s : o.stop)
        if (s.empty()) return Status::error("a stop string is empty");
    if (session.lastLogits().empty())
        return Status::error("nothing to continue: the prompt is empty (give at least one token)");
    const size_t vocab = std::min(session.lastLogits().size(), size_t(model.info().vocabSize));
    Sampler sampler(o.sampling);
    // Greedy without a penalty needs no distribution: the session finds the argmax where
    // its logits are (on the GPU only the id comes back), the same id Sampler would pick.
    const bool plainGreedy = (o.sampling.greedy || o.sampling.temperature <= 0.0f) &&
                             o.sampling.repetitionPenalty == 1.0f;
    // Sampling without a penalty likewise: the session samples where its logits are, for
    // the draw the CPU sampler would make (one uniform() a token, as Sampler::sample), so a
    // seed gives the same sequence of draws on either device: identical ids for greedy, the
    // same distribution for sampling (GPU logits differ from the CPU's by rounding).
    const bool plainSampling = !plainGreedy && !o.sampling.greedy &&
                               o.sampling.temperature > 0.0f &&
                               o.sampling.repetitionPenalty == 1.0f;
    std::vector<int32_t> history = o.history;
    GenerateResult r;
    size_t released = 0;  // bytes of r.text already given to the callback
    auto release = [&](size_t upTo, int32_t id, int index) {
        upTo = std::max(upTo, released);
        const std::string_view piece = std::string_view(r.text).substr(released, upTo - released);
        released = upTo;
        return !o.onToken || o.onToken(TokenEvent{id, index, piece});
    };
    for (int i = 0; i < o.maxTokens; ++i) {
        if (o.cancel && o.cancel->load()) {
            r.reason = StopReason::Cancelled;
            release(r.text.size(), r.ids.empty() ? -1 : r.ids.back(), i);
            return r;
        }
        int32_t id = -1;
        if (plainGreedy) {
            id = session.argmaxLogits(int(vocab));
        } else if (plainSampling) {
            const double u = sampler.uniform();
            id = session.sampleOnDevice(int(vocab), o.sampling.temperature, o.sampling.topK,
                                        o.sampling.topP, o.sampling.minP, u);
            if (id < 0) id = sampler.sample(session.lastLogits().first(vocab), history, u);
        } else {
            id = sampler.sample(session.lastLogits().first(vocab), history);
        }
        if (Status s = session.step(id); !s) return s;
        r.ids.push_back(id);
        history.push_back(id);
        if (o.endOfSequence && id == *o.endOfSequence) {
            r.reason = StopReason::EndOfSequence;
            release(r.text.size(), id, i);
            return r;
        }
        auto piece = decode(id);
        if (!piece) return piece.status();
        const size_t from = r.text.size();
        r.text += *piece;
        if (auto at = findStop(r.text, from, o.stop)) {
            r.text.resize(*at);
            r.reason = StopReason::StopString;
            release(r.text.size(), id, i);
            return r;
        }
        if (!release(r.text.size() - heldBack(r.text, o.stop), id, i)) {
            r.reason = StopReason::Callback;
            return r;
        }
    }
    r.reason = StopReason::MaxTokens;
    if (released < r.text.size())
        release(r.text.size(), r.ids.empty() ? -1 : r.ids.back(), o.maxTokens);
    return r;
}

Expected<ScoreResult> score(const Model& model, std::span<const int32_t> ids,
                            const std::atomic<bool>* cancel) {
    constexpr size_t kPiece = 512;  // tokens per prefill: bounds the [T, V] logits buffer
    const size_t V = size_t(model.info().vocabPadded), vocab = size_t(model.info().vocabSize);
    Session session = model.newSession();
    ScoreResult r;
    std::vector<float> logits;
    for (size_t t0 = 0; t0 + 1 < ids.size(); t0 += kPiece) {
        if (cancel && cancel->load()) return Status::error("scoring cancelled");
        // Reads ids[t0, t1) and scores ids[t0+1, t1+1): the last id is never read.
        const size_t t1 = std::min(ids.size() - 1, t0 + kPiece);
        logits.clear();
        PrefillOptions opt;
        opt.allLogits = &logits;
        if (Status s = session.prefill(ids.subspan(t0, t1 - t0), opt); !s) return s;
        for (size_t t = t0; t < t1; ++t) {
            const float* row = logits.data() + (t - t0) * V;
            const int32_t next = ids[t + 1];
            if (next < 0 || size_t(next) >= vocab)
                return Status::error("token id " + std::to_string(next) + " at position " +
                                     std::to_string(t + 1) + " is outside the vocabulary");
            double mx = -INFINITY, sum = 0.0;
            for (size_t v = 0; v < vocab; ++v) mx = std::max(mx, double(row[v]));
            for (size_t v = 0; v < vocab; ++v) sum += std::exp(double(row[v]) - mx);
            const double lp = double(row[next]) - mx - std::log(sum);
            r.logprob.push_back(lp);
            r.totalBits -= lp / std::log(2.0);
        }
    }
    return r;
}

}  // namespace lectern::generate
