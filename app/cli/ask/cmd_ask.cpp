// `lectern-cli ask QUESTION... --collection NAME [--document ID] [--as-of-page N] [--json]
// [--model DIR] [--device cpu|cuda|auto] [--max-tokens N] [--passages N]`: answers from the
// document's (or the whole collection's) saved state, streamed to the terminal, then the
// passages that support it (found by search, not cited by the model). Several questions
// are asked of one state. --json: one object per question with the answer, passages,
// timings and where the state came from (resident | restored | rebuilt).
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "ask_service.h"
#include "cli/ask/ask_context.h"

namespace lectern::cli {
namespace {

struct AskArgs {
    AskContextArgs ctx;
    std::vector<std::string> questions;
    int64_t asOfPage = 0;
    int maxTokens = 256, passages = 5;
    bool json = false;
};

nlohmann::json passageJson(const services::Passage& p) {
    nlohmann::json j = {{"document_id", p.documentId}, {"path", p.path},
                        {"location", p.location},      {"snippet", p.snippet},
                        {"matched", p.matched},        {"score", p.score}};
    if (p.page > 0) j["page"] = p.page;
    if (p.lineStart > 0) j["lines"] = {p.lineStart, p.lineEnd};
    return j;
}

nlohmann::json answerJson(const services::AskAnswer& a) {
    const auto& t = a.timings;
    nlohmann::json passages = nlohmann::json::array();
    for (const auto& p : a.passages) passages.push_back(passageJson(p));
    return {{"question", a.question},
            {"answer", a.answer},
            {"stopped_by", generate::stopReasonName(a.stop)},
            {"answer_tokens", a.answerTokens},
            {"state", services::stateOriginName(a.from)},
            {"state_tier", services::stateTierName(a.from)},
            {"state_tokens", a.stateTokens},
            {"timings",
             {{"state_load_s", t.stateLoadSeconds},
              {"document_prefill_s", t.documentPrefillSeconds},
              {"question_prefill_s", t.questionPrefillSeconds},
              {"first_token_s", t.firstTokenSeconds},
              {"decode_s", t.decodeSeconds},
              {"tokens_per_s", t.tokensPerSecond}}},
            {"passages_label", services::kPassagesLabel},
            {"passages", passages}};
}

void printPassages(const services::AskAnswer& a) {
    if (a.passages.empty()) {
        std::printf("\n(no passages found by search for these words)\n");
        return;
    }
    std::printf("\n%s:\n", services::kPassagesLabel);
    int rank = 0;
    for (const auto& p : a.passages) {
        const std::string snippet = oneLine(p.snippet);
        std::printf("  %d. %s  %s\n     %s\n", ++rank, p.path.c_str(), p.location.c_str(),
                    snippet.c_str());
    }
}

int runAsk(const AskArgs& a, const GlobalOptions& g) {
    for (size_t i = 0; i < a.questions.size(); ++i)
        if (Status s = services::questionCheck(a.questions[i]); !s) {
            std::fprintf(
                stderr, "lectern-cli ask: %s%s\n",
                a.questions.size() > 1 ? ("question " + std::to_string(i + 1) + ": ").c_str() : "",
                s.message().c_str());
            return kExitUsage;
        }
    auto ctx = openAskContext("ask", g, a.ctx);
    if (!ctx) return kExitFailure;
    installInterrupt();
    services::AskService ask(*ctx->cache, *ctx->store, ctx->format);
    services::AskRequest r;
    r.collection = a.ctx.collection;
    if (a.ctx.document != 0) {
        r.key = services::StateKey::document(a.ctx.document);
        r.documentId = a.ctx.document;
    } else {
        auto cid = ctx->store->findCollection(a.ctx.collection);
        r.key = services::StateKey::collection(cid ? *cid : 0);
    }
    r.asOfPage = a.asOfPage;
    r.questions = a.questions;
    services::AskOptions o;
    o.maxTokens = a.maxTokens;
    o.passageLimit = a.passages;
    o.cancel = &interruptFlag();
    o.progress = terminalProgress("reading", isatty(STDERR_FILENO) == 1);
    if (!a.json) {
        o.onText = [&](size_t q, std::string_view text) {
            (void)q;
            std::fwrite(text.data(), 1, text.size(), stdout);
            std::fflush(stdout);
            return true;
        };
    }
    auto answers = ask.ask(r, o);
    if (!answers) {
        std::fprintf(stderr, "\nlectern-cli ask: %s\n", answers.error().c_str());
        return interruptFlag().load() ? kExitInterrupted : kExitFailure;
    }
    if (a.json) {
        nlohmann::json out;
        if (answers->size() == 1) {
            out = answerJson((*answers)[0]);
        } else {
            out = {{"answers", nlohmann::json::array()}};
            for (const auto& x : *answers) out["answers"].push_back(answerJson(x));
        }
        std::printf("%s\n",
                    out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
        // Answers were streamed as they came; the question headers and passages follow each.
        for (const auto& x : *answers) {
            std::printf("\n");
            printPassages(x);
            std::fflush(stdout);  // the timings go to stderr: keep them after the answer
            const auto& t = x.timings;
            std::fprintf(stderr,
                         "[state %s (%s, %lld tokens), load %.3f s, read %.3f s, question %.3f s, "
                         "first token %.3f s, %lld tokens at %.1f tok/s, stopped by %s]\n",
                         services::stateOriginName(x.from), services::stateTierName(x.from),
                         (long long)x.stateTokens, t.stateLoadSeconds, t.documentPrefillSeconds,
                         t.questionPrefillSeconds, t.firstTokenSeconds, (long long)x.answerTokens,
                         t.tokensPerSecond, generate::stopReasonName(x.stop));
        }
    }
    return interruptFlag().load() ? kExitInterrupted : kExitOk;
}

const CommandRegistration registration{{
    "ask",
    "Ask a document or a collection a question, answered from its saved model state",
    [](CLI::App& sub, const GlobalOptions& globals) -> std::function<int()> {
        auto a = std::make_shared<AskArgs>();
        sub.add_option("question", a->questions, "the question (several: asked of one state)")
            ->required();
        sub.add_option("--collection", a->ctx.collection, "collection to ask")->required();
        auto* doc = sub.add_option("--document", a->ctx.document, "ask this document (id) alone")
                        ->check(CLI::PositiveNumber);
        sub.add_option("--as-of-page", a->asOfPage, "ask the state after page N (needs --document)")
            ->check(CLI::PositiveNumber)
            ->needs(doc);
        sub.add_option("--model", a->ctx.model, "model folder (default: the bundled model)");
        sub.add_option("--device", a->ctx.device, "cpu, cuda or auto")
            ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
        sub.add_option("--max-tokens", a->maxTokens, "longest answer in tokens (default 256)")
            ->check(CLI::Range(1, 1 << 20));
        sub.add_option("--passages", a->passages, "supporting passages to show (default 5)")
            ->check(CLI::Range(0, 100));
        sub.add_flag("--json", a->json, "machine-readable output");
        return [a, &globals] { return runAsk(*a, globals); };
    },
}};

}  // namespace
}  // namespace lectern::cli
