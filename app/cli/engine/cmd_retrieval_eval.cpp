// `lectern-cli retrieval-eval --model DIR --data FILE.jsonl [--max-examples N] [--json]`:
// long-context retrieval accuracy (issue 6). Each line of FILE holds {"document",
// "question", "answer"} (scripts/model/make_retrieval.py writes them, the fact at a random
// depth of real text); the model reads document + the question in the model's prompt
// format (DIR/prompt.json, the defaults when absent), decodes greedily until a stop string,
// and an example counts as right when the answer, trimmed, equals the expected one exactly.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli/command.h"
#include "cli/engine/engine_text.h"

namespace lectern::cli {
namespace {

struct RetrievalArgs {
    std::string model, data;
    int64_t maxExamples = 0, piece = 16384;
    int maxTokens = 48;
    bool json = false;
};

struct Prompt {
    std::string documentEnd = "\n\n", question = "Question: {question}\nAnswer:";
    std::vector<std::string> stop = {"\n"};
};

int fail(const std::string& message) {
    std::fprintf(stderr, "lectern-cli retrieval-eval: %s\n", message.c_str());
    return kExitFailure;
}

// DIR/prompt.json when present (the same keys the app's prompt format reads).
Expected<Prompt> loadPrompt(const std::string& dir) {
    Prompt p;
    const std::filesystem::path file = std::filesystem::path(dir) / "prompt.json";
    if (!std::filesystem::exists(file)) return p;
    std::ifstream f(file);
    auto j = nlohmann::json::parse(f, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return Status::error(file.string() + ": not a JSON object");
    try {
        if (j.contains("document_end")) p.documentEnd = j["document_end"].get<std::string>();
        if (j.contains("question")) p.question = j["question"].get<std::string>();
        if (j.contains("stop")) p.stop = j["stop"].get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception& e) {
        return Status::error(file.string() + ": " + e.what());
    }
    if (p.question.find("{question}") == std::string::npos)
        return Status::error(file.string() + ": the question template lacks {question}");
    return p;
}

std::string render(const Prompt& p, const std::string& question) {
    std::string q = p.question;
    for (size_t at; (at = q.find("{question}")) != std::string::npos;) q.replace(at, 10, question);
    return p.documentEnd + q;
}

std::string trim(const std::string& s) {
    const size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

int runRetrieval(const RetrievalArgs& a) {
    auto model = Model::load(a.model, DeviceKind::Cpu);
    if (!model) return fail(model.error());
    auto text = loadModelText(a.model);
    if (!text) return fail(text.error());
    auto prompt = loadPrompt(a.model);
    if (!prompt) return fail(prompt.error());
    std::ifstream in(a.data);
    if (!in) return fail(a.data + ": cannot open");
    int64_t n = 0, right = 0, tokens = 0;
    double seconds = 0.0;
    std::string line;
    for (int64_t lineNo = 1; std::getline(in, line); ++lineNo) {
        if (line.empty()) continue;
        if (a.maxExamples > 0 && n >= a.maxExamples) break;
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.contains("document") || !j.contains("question") ||
            !j.contains("answer"))
            return fail(a.data + ":" + std::to_string(lineNo) +
                        ": not an object with document, question and answer");
        const std::string expected = j["answer"].get<std::string>();
        const std::vector<int32_t> ids = text->encode(
            j["document"].get<std::string>() + render(*prompt, j["question"].get<std::string>()));
        const auto t0 = std::chrono::steady_clock::now();
        Session session = model->newSession();
        // In pieces, so a million-token document needs only a piece's activations.
        for (size_t at = 0; at < ids.size(); at += size_t(a.piece)) {
            const size_t len = std::min(ids.size() - at, size_t(a.piece));
            if (Status s = session.prefill(std::span<const int32_t>(ids.data() + at, len)); !s)
                return fail(s.message());
        }
        generate::GenerateOptions g;
        g.sampling.greedy = true;
        g.maxTokens = a.maxTokens;
        g.stop = prompt->stop;
        g.endOfSequence = text->endOfSequence;
        auto r = generate::generate(*model, session, g, text->decoder());
        if (!r) return fail(r.error());
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        tokens += int64_t(ids.size());
        const bool ok = trim(r->text) == trim(expected);
        n += 1;
        right += ok ? 1 : 0;
        if (!a.json)
            std::printf("%s %lld tokens, depth %.2f: %s | expected: %s\n", ok ? "RIGHT" : "wrong",
                        (long long)ids.size(), j.value("depth", -1.0), trim(r->text).c_str(),
                        expected.c_str());
    }
    if (n == 0) return fail(a.data + ": no examples");
    const double acc = double(right) / double(n);
    if (a.json)
        std::printf(
            "{\"data\": %s, \"examples\": %lld, \"right\": %lld, \"accuracy\": %.4f, "
            "\"mean_tokens\": %.0f, \"prefill_tokens_per_s\": %.0f}\n",
            nlohmann::json(a.data).dump().c_str(), (long long)n, (long long)right, acc,
            double(tokens) / double(n), double(tokens) / std::max(seconds, 1e-9));
    else
        std::printf("%s: %lld of %lld right (%.1f%%), %.0f tokens per example\n", a.data.c_str(),
                    (long long)right, (long long)n, 100.0 * acc, double(tokens) / double(n));
    return kExitOk;
}

const CommandRegistration registration{{
    "retrieval-eval",
    "Long-context retrieval accuracy: greedy answers to questions at the end of documents",
    [](CLI::App& sub, const GlobalOptions&) -> std::function<int()> {
        auto a = std::make_shared<RetrievalArgs>();
        sub.add_option("--model", a->model, "model folder")->required();
        sub.add_option("--data", a->data, "JSON Lines of {document, question, answer}")->required();
        sub.add_option("--max-examples", a->maxExamples, "evaluate at most N examples (0: all)");
        sub.add_option("--max-tokens", a->maxTokens, "longest answer in tokens (default 48)");
        sub.add_option("--piece", a->piece, "prefill piece in tokens (bounded memory)");
        sub.add_flag("--json", a->json, "one JSON summary line instead of per-example lines");
        return [a] { return runRetrieval(*a); };
    },
}};

}  // namespace
}  // namespace lectern::cli
