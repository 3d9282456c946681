// AskService (app/services/ask_service.h): one state, forked per question.
#include "ask_service.h"

#include <chrono>

namespace lectern::services {
namespace {

double seconds(std::chrono::steady_clock::time_point from) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - from).count();
}

}  // namespace

const char* stateOriginName(StateTier tier) {
    switch (tier) {
        case StateTier::Resident:
            return "resident";
        case StateTier::Host:
        case StateTier::Disk:
            return "restored";
        case StateTier::Rebuilt:
            return "rebuilt";
    }
    return "rebuilt";
}

Expected<std::vector<AskAnswer>> AskService::ask(const AskRequest& request,
                                                 const AskOptions& options) {
    if (request.questions.empty()) return Status::error("no question to ask");
    for (size_t i = 0; i < request.questions.size(); ++i)
        if (Status s = questionCheck(request.questions[i]); !s)
            return request.questions.size() == 1
                       ? s
                       : s.withContext("question " + std::to_string(i + 1));
    StateRequest sr;
    sr.key = request.key;
    sr.asOfPage = request.asOfPage;
    sr.cancel = options.cancel;
    sr.progress = options.progress;
    auto state = cache_->get(sr);
    if (!state) return state.status();
    if (options.onState) options.onState(*state);
    std::vector<AskAnswer> out;
    for (size_t i = 0; i < request.questions.size(); ++i) {
        auto a = answerOne(state->session, i, request.questions[i], request, options);
        if (!a) return a.status();
        a->from = state->from;
        a->stateTokens = state->session.position();
        a->timings.stateLoadSeconds = state->loadSeconds;
        a->timings.documentPrefillSeconds = state->prefillSeconds;
        out.push_back(std::move(*a));
        if (options.cancel && options.cancel->load()) break;
    }
    return out;
}

Expected<AskAnswer> AskService::answerOne(const Session& state, size_t index,
                                          const std::string& question, const AskRequest& request,
                                          const AskOptions& options) {
    using Clock = std::chrono::steady_clock;
    const TextCodec& codec = cache_->codec();
    AskAnswer a;
    a.question = question;
    const auto t0 = Clock::now();
    Session s = state.fork();
    // The question is the user's text: special-token names in it are read as plain text.
    const std::vector<int32_t> prompt = codec.encode(format_.render(question));
    PrefillOptions po;
    po.cancel = options.cancel;
    if (Status st = s.prefill(prompt, po); !st) return st;
    a.timings.questionPrefillSeconds = seconds(t0);

    generate::GenerateOptions g;
    g.sampling = options.sampling;
    g.maxTokens = options.maxTokens;
    g.stop = format_.stop;
    g.endOfSequence = codec.endOfText();
    g.cancel = options.cancel;
    Clock::time_point decodeStart = Clock::now();
    bool first = true;
    g.onToken = [&](const generate::TokenEvent& e) {
        if (first) {
            a.timings.firstTokenSeconds = seconds(t0);
            first = false;
        }
        return !options.onText || e.text.empty() || options.onText(index, e.text);
    };
    auto decoder = [&codec](int32_t id) { return codec.decode({id}); };
    auto r = generate::generate(cache_->model(), s, g, decoder);
    if (!r) return r.status();
    a.timings.decodeSeconds = seconds(decodeStart);
    a.answer = r->text;
    a.stop = r->reason;
    a.answerTokens = int64_t(r->ids.size());
    if (a.answerTokens > 0 && a.timings.decodeSeconds > 0)
        a.timings.tokensPerSecond = double(a.answerTokens) / a.timings.decodeSeconds;

    PassageRequest p;
    p.collection = request.collection;
    p.documentId = request.documentId;
    p.maxPage = request.asOfPage;
    p.question = question;
    p.answer = a.answer;
    p.limit = options.passageLimit;
    if (options.passageLimit > 0) {
        auto found = passagesFind(*store_, p);
        if (!found) return found.status();
        a.passages = std::move(*found);
    }
    return a;
}

}  // namespace lectern::services
