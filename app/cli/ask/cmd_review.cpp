// `lectern-cli review --collection NAME --question Q [--question Q2 ...] [--csv FILE] [--json]
// [--model DIR] [--device cpu|cuda|auto] [--max-tokens N] [--passages N]`: every question
// asked of every document of the collection, each from that document's own state; prints
// the document × question table and writes it as CSV if asked.
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli/ask/ask_context.h"
#include "review_service.h"

namespace lectern::cli {
namespace {

struct ReviewArgs {
    AskContextArgs ctx;
    std::vector<std::string> questions;
    std::string csv;
    int maxTokens = 64, passages = 3;
    bool json = false;
};

nlohmann::json tableJson(const services::ReviewTable& t) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& r : t.rows) {
        nlohmann::json answers = nlohmann::json::array();
        for (const auto& a : r.answers) {
            nlohmann::json passages = nlohmann::json::array();
            for (const auto& p : a.passages)
                passages.push_back({{"location", p.location}, {"snippet", p.snippet}});
            answers.push_back({{"question", a.question},
                               {"answer", a.answer},
                               {"state", services::stateOriginName(a.from)},
                               {"first_token_s", a.timings.firstTokenSeconds},
                               {"passages", passages}});
        }
        rows.push_back({{"document_id", r.documentId},
                        {"path", r.path},
                        {"answers", answers},
                        {"error", r.error}});
    }
    return {{"collection", t.collection},
            {"questions", t.questions},
            {"passages_label", services::kPassagesLabel},
            {"rows", rows}};
}

void printTable(const services::ReviewTable& t) {
    for (const auto& r : t.rows) {
        std::printf("%s  (document %lld)\n", r.path.c_str(), (long long)r.documentId);
        if (!r.error.empty()) {
            std::printf("  error: %s\n\n", r.error.c_str());
            continue;
        }
        for (size_t q = 0; q < r.answers.size(); ++q) {
            const auto& a = r.answers[q];
            std::printf("  Q%zu %s\n     %s\n", q + 1, oneLine(a.question).c_str(),
                        oneLine(a.answer).c_str());
            if (!a.passages.empty())
                std::printf("     supported by: %s (%s)\n", a.passages[0].location.c_str(),
                            oneLine(a.passages[0].snippet).c_str());
        }
        std::printf("\n");
    }
    std::printf("(supporting passages are found by search, not cited by the model)\n");
}

int runReview(const ReviewArgs& a, const GlobalOptions& g) {
    for (size_t i = 0; i < a.questions.size(); ++i)
        if (Status s = services::questionCheck(a.questions[i]); !s) {
            std::fprintf(stderr, "lectern-cli review: question %zu: %s\n", i + 1,
                         s.message().c_str());
            return kExitUsage;
        }
    auto ctx = openAskContext("review", g, a.ctx);
    if (!ctx) return kExitFailure;
    installInterrupt();
    services::AskService ask(*ctx->cache, *ctx->store, ctx->format);
    services::AskOptions o;
    o.maxTokens = a.maxTokens;
    o.passageLimit = a.passages;
    o.cancel = &interruptFlag();
    const bool tty = isatty(STDERR_FILENO) == 1;
    o.progress = terminalProgress("  reading", tty);
    auto table =
        services::reviewRun(ask, *ctx->store, {a.ctx.collection, a.questions}, o,
                            [](size_t i, size_t n, const std::string& path) {
                                std::fprintf(stderr, "[%zu/%zu] %s\n", i + 1, n, path.c_str());
                            });
    if (!table) {
        std::fprintf(stderr, "lectern-cli review: %s\n", table.error().c_str());
        return kExitFailure;
    }
    if (a.json)
        std::printf("%s\n", tableJson(*table)
                                .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                                .c_str());
    else
        printTable(*table);
    if (!a.csv.empty()) {
        if (Status s = services::reviewCsvWrite(*table, a.csv); !s) {
            std::fprintf(stderr, "lectern-cli review: %s\n", s.message().c_str());
            return kExitFailure;
        }
        std::fprintf(stderr, "wrote %s\n", a.csv.c_str());
    }
    if (interruptFlag().load()) return kExitInterrupted;
    for (const auto& r : table->rows)
        if (!r.error.empty()) return kExitPartial;
    return kExitOk;
}

const CommandRegistration registration{{
    "review",
    "Ask questions of every document of a collection: a table of answers (CSV with --csv)",
    [](CLI::App& sub, const GlobalOptions& globals) -> std::function<int()> {
        auto a = std::make_shared<ReviewArgs>();
        sub.add_option("--collection", a->ctx.collection, "collection to review")->required();
        sub.add_option("--question", a->questions, "a question (repeat for more)")->required();
        sub.add_option("--csv", a->csv, "also write the table as CSV to FILE");
        sub.add_option("--model", a->ctx.model, "model folder (default: the bundled model)");
        sub.add_option("--device", a->ctx.device, "cpu, cuda or auto")
            ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
        sub.add_option("--max-tokens", a->maxTokens, "longest answer in tokens (default 64)")
            ->check(CLI::Range(1, 1 << 20));
        sub.add_option("--passages", a->passages, "supporting passages per answer (default 3)")
            ->check(CLI::Range(0, 100));
        sub.add_flag("--json", a->json, "machine-readable output");
        return [a, &globals] { return runReview(*a, globals); };
    },
}};

}  // namespace
}  // namespace lectern::cli
