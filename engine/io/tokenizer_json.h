// Hugging Face tokenizer.json for byte-level BPE models (GPT-2, GPT-NeoX, Llama-3 styles):
// normalizer (NFC/NFD/NFKC/NFKD/Lowercase and Sequences of them), added/special tokens
// matched before BPE, the ByteLevel pre-tokenizer with the GPT-2 split regex or a Split
// with the Llama-3 regex, BPE merges in both JSON forms, the ByteLevel decoder and a
// TemplateProcessing post-processor. Other model types (WordPiece, Unigram, ...) and
// other components are refused at load with an error naming them.
//
// Invalid UTF-8 input: bytes that are not part of a valid UTF-8 sequence are not replaced
// or dropped; each becomes its own pre-token and is encoded as its byte-level token, so
// decode() gives the same bytes back. Hence decode(encode(s)) == s for every byte string
// when the tokenizer has no normalizer (GPT-2, Llama-3) and == normalize(s) with one
// (GPT-NeoX applies NFC); a ByteLevel add_prefix_space adds its leading space.
//
// The Unicode classes of the split regexes (\p{L}, \p{N}, \s) and the normalizers come
// from ICU. A build without ICU has no tokenizer: load() says so.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lectern/status.h"

namespace lectern::io {

struct TokenizerImpl;

struct EncodeOptions {
    // Add the post-processor's special tokens (e.g. Llama-3's <|begin_of_text|>).
    bool addSpecialTokens = false;
    // Match special tokens written in the text. Off for untrusted documents, so a file
    // that contains "<|endoftext|>" is encoded as plain text, not as the token.
    bool parseSpecialTokens = true;
};

class Tokenizer {
public:
    static Expected<Tokenizer> load(const std::string& path);
    // `name` is used in messages (the file name, or a test's label).
    static Expected<Tokenizer> parse(std::string_view json, const std::string& name);

    std::vector<int32_t> encode(std::string_view text, const EncodeOptions& options = {}) const;
    // Bytes, not necessarily valid UTF-8 (a prefix of a stream may end inside a character).
    // Errors on an id outside the vocabulary.
    Expected<std::string> decode(const std::vector<int32_t>& ids, bool skipSpecial = false) const;

    int32_t vocabSize() const;  // number of ids: the model's vocab plus added tokens
    std::optional<int32_t> tokenId(std::string_view token) const;  // as written in the vocab
    std::string tokenText(int32_t id) const;                       // "" for an unknown id
    bool isSpecial(int32_t id) const;

    static bool available();  // false in a build without ICU

private:
    explicit Tokenizer(std::shared_ptr<const TokenizerImpl> impl) : impl_(std::move(impl)) {}
    std::shared_ptr<const TokenizerImpl> impl_;  // immutable once loaded: encode is thread-safe
};

}  // namespace lectern::io
