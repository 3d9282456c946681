// `lectern-cli tokenize --tokenizer FILE (--text TEXT | --file FILE) [--no-special]
// [--add-special] [--ids-only]`: a debugging aid for tokenizer.json. Prints the ids, then
// one line per token (id, then its bytes with control and non-ASCII bytes escaped), then
// whether decoding gives the input back.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "cli/command.h"
#include "io/tokenizer_json.h"

namespace lectern::cli {
namespace {

struct TokenizeArgs {
    std::string tokenizer, text, file;
    bool noSpecial = false, addSpecial = false, idsOnly = false;
};

std::string escaped(const std::string& bytes) {
    std::string out;
    for (unsigned char c : bytes) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c >= 0x20 && c < 0x7f) {
            out.push_back(char(c));
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    return out;
}

int runTokenize(const TokenizeArgs& a) {
    auto tok = io::Tokenizer::load(a.tokenizer);
    if (!tok) {
        std::fprintf(stderr, "lectern-cli tokenize: %s\n", tok.error().c_str());
        return kExitFailure;
    }
    std::string text = a.text;
    if (!a.file.empty()) {
        std::ifstream in(a.file, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "lectern-cli tokenize: %s: cannot open\n", a.file.c_str());
            return kExitFailure;
        }
        text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    io::EncodeOptions options;
    options.parseSpecialTokens = !a.noSpecial;
    options.addSpecialTokens = a.addSpecial;
    const std::vector<int32_t> ids = tok->encode(text, options);
    std::printf("%zu tokens:", ids.size());
    for (int32_t id : ids) std::printf(" %d", id);
    std::printf("\n");
    if (a.idsOnly) return kExitOk;
    for (int32_t id : ids) {
        auto piece = tok->decode({id});
        std::printf("%8d  %s%s\n", id, piece ? escaped(*piece).c_str() : "?",
                    tok->isSpecial(id) ? "  (special)" : "");
    }
    auto back = tok->decode(ids, /*skipSpecial=*/false);
    std::printf("round trip: %s\n", back && *back == text ? "exact"
                                                          : "differs (normalizer, prefix "
                                                            "space or added special tokens)");
    return kExitOk;
}

const CommandRegistration registration{{
    "tokenize",
    "Encode text with a tokenizer.json and show the tokens (debugging aid)",
    [](CLI::App& sub, const GlobalOptions&) -> std::function<int()> {
        auto args = std::make_shared<TokenizeArgs>();
        sub.add_option("--tokenizer", args->tokenizer, "tokenizer.json file")->required();
        auto* text = sub.add_option("--text", args->text, "text to encode");
        auto* file = sub.add_option("--file", args->file, "file whose bytes to encode");
        text->excludes(file);
        sub.add_flag("--no-special", args->noSpecial,
                     "treat special tokens in the text as plain text");
        sub.add_flag("--add-special", args->addSpecial,
                     "add the post-processor's tokens (e.g. BOS)");
        sub.add_flag("--ids-only", args->idsOnly, "print only the ids");
        return [args] { return runTokenize(*args); };
    },
}};

}  // namespace
}  // namespace lectern::cli
