// The model's text interface for services: its tokenizer.json when the model folder has
// one, else byte-level ids (each byte its own id, as `lectern-cli generate` does). Also
// gives each token's byte length, which document_text uses to map tokens to bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/tokenizer_json.h"
#include "lectern/status.h"

namespace lectern::services {

class TextCodec {
public:
    TextCodec() = default;  // byte-level
    explicit TextCodec(io::Tokenizer tokenizer);
    // DIR/tokenizer.json (DIR: the model folder, or the folder of a weights file).
    static Expected<TextCodec> forModel(const std::string& modelPath);

    // Document text is untrusted: special tokens written in it are read as plain text.
    std::vector<int32_t> encode(std::string_view text, bool parseSpecial = false) const;
    Expected<std::string> decode(const std::vector<int32_t>& ids) const;
    // Bytes the token decodes to (0 for special tokens and unknown ids).
    int64_t tokenBytes(int32_t id) const;
    std::optional<int32_t> endOfText() const { return endOfText_; }
    bool byteLevel() const { return !tokenizer_; }
    const std::optional<io::Tokenizer>& tokenizer() const { return tokenizer_; }

private:
    std::optional<io::Tokenizer> tokenizer_;
    std::optional<int32_t> endOfText_;
    std::vector<int32_t> tokenLength_;  // decoded bytes per id, computed once
};

}  // namespace lectern::services
