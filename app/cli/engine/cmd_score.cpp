// `lectern-cli score --model DIR --text FILE [--json]`: each token's surprisal under the
// model (bits), the total and bits per byte. The first token has no prediction; the
// per-byte figure divides by the bytes of the scored tokens (all but the first).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/engine/engine_text.h"

namespace lectern::cli {
namespace {

struct ScoreArgs {
    std::string model, text;
    bool json = false;
};

int fail(const std::string& message) {
    std::fprintf(stderr, "lectern-cli score: %s\n", message.c_str());
    return kExitFailure;
}

int runScore(const ScoreArgs& a) {
    std::ifstream in(a.text, std::ios::binary);
    if (!in) return fail(a.text + ": cannot open");
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto model = Model::load(a.model);
    if (!model) return fail(model.error());
    auto text = loadModelText(a.model);
    if (!text) return fail(text.error());
    const std::vector<int32_t> ids = text->encode(bytes);
    if (ids.size() < 2) return fail(a.text + ": fewer than two tokens, nothing to score");
    auto r = generate::score(*model, ids);
    if (!r) return fail(r.error());
    const auto decode = text->decoder();
    size_t scoredBytes = 0;
    nlohmann::json tokens = nlohmann::json::array();
    for (size_t i = 1; i < ids.size(); ++i) {
        auto piece = decode(ids[i]);
        const std::string p = piece ? *piece : std::string();
        scoredBytes += p.size();
        const double bits = -r->logprob[i - 1] / std::log(2.0);
        if (a.json) {
            // Invalid UTF-8 in a token's bytes becomes U+FFFD when dumped.
            tokens.push_back({{"id", ids[i]}, {"bits", bits}, {"text", p}});
        } else {
            std::printf("%6zu %8d %9.4f\n", i, ids[i], bits);
        }
    }
    const double bpb = scoredBytes ? r->totalBits / double(scoredBytes) : 0.0;
    if (a.json) {
        nlohmann::json out = {{"tokens", tokens},
                              {"scored_tokens", ids.size() - 1},
                              {"total_bits", r->totalBits},
                              {"scored_bytes", scoredBytes},
                              {"bits_per_byte", bpb}};
        std::printf("%s\n",
                    out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
        std::printf("tokens scored %zu, total %.4f bits, %.4f bits/token, %.4f bits/byte\n",
                    ids.size() - 1, r->totalBits, r->totalBits / double(ids.size() - 1), bpb);
    }
    return kExitOk;
}

const CommandRegistration registration{{
    "score",
    "Per-token surprisal of a text under the model, total bits and bits per byte",
    [](CLI::App& sub, const GlobalOptions&) -> std::function<int()> {
        auto a = std::make_shared<ScoreArgs>();
        sub.add_option("--model", a->model, "model folder (config.json + weights)")->required();
        sub.add_option("--text", a->text, "file whose bytes to score")->required();
        sub.add_flag("--json", a->json, "JSON output");
        return [a] { return runScore(*a); };
    },
}};

}  // namespace
}  // namespace lectern::cli
