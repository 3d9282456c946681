// `lectern-cli surprise --collection NAME --document ID [--top N] [--json] [--recompute]
// [--model DIR] [--device cpu|cuda|auto]`: the document's surprise map under the model
// (computed and stored on first use, recomputed when the model changes): bits per token
// overall and per page, and the most surprising sentences (prose) or lines (code, records).
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli/ask/ask_context.h"
#include "surprise_service.h"

namespace lectern::cli {
namespace {

struct SurpriseArgs {
    AskContextArgs ctx;
    int top = 10;
    bool json = false, recompute = false;
};

// The span's text on one line, cut to `limit` bytes on a UTF-8 boundary.
std::string excerpt(const std::string& text, const services::SurpriseSpan& s, size_t limit = 160) {
    const int64_t from = std::clamp<int64_t>(s.byteStart, 0, int64_t(text.size()));
    const int64_t to = std::clamp<int64_t>(s.byteEnd, from, int64_t(text.size()));
    std::string one = oneLine(std::string_view(text).substr(size_t(from), size_t(to - from)));
    if (one.size() > limit) {
        size_t cut = limit;
        while (cut > 0 && (static_cast<unsigned char>(one[cut]) & 0xc0) == 0x80) --cut;
        one = one.substr(0, cut) + "…";
    }
    return one;
}

std::string where(const services::SurpriseSpan& s) {
    std::string w = s.page > 0 ? "page " + std::to_string(s.page) + ", " : "";
    return w + (s.lineEnd > s.lineStart
                    ? "lines " + std::to_string(s.lineStart) + "-" + std::to_string(s.lineEnd)
                    : "line " + std::to_string(s.lineStart));
}

int runSurprise(const SurpriseArgs& a, const GlobalOptions& g) {
    auto ctx = openAskContext("surprise", g, a.ctx);
    if (!ctx) return kExitFailure;
    installInterrupt();
    store::Db& db = ctx->store->database();
    services::SurpriseRequest r;
    r.documentId = a.ctx.document;
    r.recompute = a.recompute;
    r.cancel = &interruptFlag();
    r.progress = terminalProgress("scoring", isatty(STDERR_FILENO) == 1);
    auto result = services::surpriseEnsure(*ctx->cache, db, r);
    if (!result) {
        std::fprintf(stderr, "lectern-cli surprise: %s\n", result.error().c_str());
        return interruptFlag().load() ? kExitInterrupted : kExitFailure;
    }
    const auto unit =
        result->prose ? services::SurpriseUnit::Sentence : services::SurpriseUnit::Line;
    auto top = services::surpriseSpans(db, result->run.id, unit, a.top, 4);
    if (top && top->empty()) top = services::surpriseSpans(db, result->run.id, unit, a.top, 1);
    auto pages = services::surpriseSpans(db, result->run.id, services::SurpriseUnit::Page);
    auto text = ctx->cache->text(services::StateKey::document(a.ctx.document));
    for (const Status* s : {&top.status(), &pages.status(), &text.status()})
        if (!*s) {
            std::fprintf(stderr, "lectern-cli surprise: %s\n", s->message().c_str());
            return kExitFailure;
        }
    const std::string& body = (*text)->text;
    if (a.json) {
        nlohmann::json spans = nlohmann::json::array(), pj = nlohmann::json::array();
        for (const auto& s : *top)
            spans.push_back({{"unit", services::surpriseUnitName(s.unit)},
                             {"page", s.page},
                             {"lines", {s.lineStart, s.lineEnd}},
                             {"bytes", {s.byteStart, s.byteEnd}},
                             {"tokens", s.tokens},
                             {"mean_bits", s.meanBits},
                             {"max_bits", s.maxBits},
                             {"text", excerpt(body, s, 400)}});
        for (const auto& p : *pages)
            pj.push_back({{"page", p.page},
                          {"tokens", p.tokens},
                          {"mean_bits", p.meanBits},
                          {"max_bits", p.maxBits}});
        nlohmann::json out = {{"document_id", a.ctx.document},
                              {"path", ctx->document.path},
                              {"model_id", result->run.modelId},
                              {"computed", result->computed},
                              {"seconds", result->seconds},
                              {"tokens", result->run.tokenCount},
                              {"mean_bits", result->run.meanBits},
                              {"unit", services::surpriseUnitName(unit)},
                              {"top", spans},
                              {"pages", pj}};
        std::printf("%s\n",
                    out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        return kExitOk;
    }
    std::printf("%s: %lld tokens, %.3f bits per token (model %s%s)\n", ctx->document.path.c_str(),
                (long long)result->run.tokenCount, result->run.meanBits,
                result->run.modelId.c_str(), result->computed ? ", computed now" : ", stored");
    if (!pages->empty()) {
        std::printf("\nper page (mean bits per token):\n");
        for (const auto& p : *pages)
            std::printf("  page %lld: %.3f (max %.2f)\n", (long long)p.page, p.meanBits, p.maxBits);
    }
    std::printf("\nmost surprising %ss:\n", services::surpriseUnitName(unit));
    int rank = 0;
    for (const auto& s : *top)
        std::printf("  %d. %.3f bits/token (max %.2f), %s\n     %s\n", ++rank, s.meanBits,
                    s.maxBits, where(s).c_str(), excerpt(body, s).c_str());
    return kExitOk;
}

const CommandRegistration registration{{
    "surprise",
    "Where a document surprises the model: bits per token by page and the top passages",
    [](CLI::App& sub, const GlobalOptions& globals) -> std::function<int()> {
        auto a = std::make_shared<SurpriseArgs>();
        sub.add_option("--collection", a->ctx.collection, "the document's collection")->required();
        sub.add_option("--document", a->ctx.document, "document id")
            ->required()
            ->check(CLI::PositiveNumber);
        sub.add_option("--top", a->top, "most surprising passages to show (default 10)")
            ->check(CLI::Range(1, 10000));
        sub.add_flag("--recompute", a->recompute, "compute again even if stored");
        sub.add_option("--model", a->ctx.model, "model folder (default: the bundled model)");
        sub.add_option("--device", a->ctx.device, "cpu, cuda or auto")
            ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
        sub.add_flag("--json", a->json, "machine-readable output");
        return [a, &globals] { return runSurprise(*a, globals); };
    },
}};

}  // namespace
}  // namespace lectern::cli
