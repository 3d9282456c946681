// Shared by `lectern-cli generate` and `score`: a model folder's text interface, its
// tokenizer.json when there is one, else byte-level ids (each byte is its own id).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "generate/generator.h"
#include "io/tokenizer_json.h"

namespace lectern::cli {

struct ModelText {
    std::optional<io::Tokenizer> tokenizer;
    std::optional<int32_t> endOfSequence;  // the tokenizer's end-of-text token, if it has one

    std::vector<int32_t> encode(const std::string& text) const {
        if (tokenizer) return tokenizer->encode(text);
        return bytes(text);
    }
    static std::vector<int32_t> bytes(const std::string& text) {
        std::vector<int32_t> ids;
        for (unsigned char c : text) ids.push_back(int32_t(c));
        return ids;
    }
    generate::TokenDecoder decoder() const {
        if (!tokenizer) return generate::byteDecoder();
        const io::Tokenizer tok = *tokenizer;
        return [tok](int32_t id) { return tok.decode({id}); };
    }
};

// Loads DIR/tokenizer.json (DIR: the model folder, or the folder of a weights file).
inline Expected<ModelText> loadModelText(const std::string& modelPath) {
    namespace fs = std::filesystem;
    const fs::path dir =
        fs::is_directory(modelPath) ? fs::path(modelPath) : fs::path(modelPath).parent_path();
    ModelText t;
    if (!fs::exists(dir / "tokenizer.json")) return t;
    auto tok = io::Tokenizer::load((dir / "tokenizer.json").string());
    if (!tok) return tok.status();
    t.tokenizer = std::move(*tok);
    for (const char* eos : {"<|endoftext|>", "<|end_of_text|>", "</s>"}) {
        if (auto id = t.tokenizer->tokenId(eos)) {
            t.endOfSequence = id;
            break;
        }
    }
    return t;
}

}  // namespace lectern::cli
