// The FTS5 tokenizer "lectern": ICU word segmentation with NFKC case folding and
// diacritic folding (so `é`, `É` and `e` match), CJK ideographs and kana split into
// single characters (a multi-character CJK query becomes a phrase, so a 2-character word
// is found however ICU's dictionary segments the text). Registered on every connection.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "lectern/status.h"

namespace lectern::store {

inline constexpr const char* kTokenizerName = "lectern";

Status registerIcuTokenizer(sqlite3* db);

// Receives (folded token, byte start, byte end) in the input; returns false to stop.
using TokenSink = std::function<bool(std::string_view, int, int)>;

class TextTokenizer {
public:
    TextTokenizer();
    ~TextTokenizer();
    TextTokenizer(const TextTokenizer&) = delete;
    TextTokenizer& operator=(const TextTokenizer&) = delete;

    // Tokenizes `text` (UTF-8; invalid bytes are treated as U+FFFD) in bounded windows so
    // no ICU call sees more than a few hundred thousand UTF-16 units. Pure-ASCII windows
    // take a fast path that segments exactly as ICU's word rules do on ASCII.
    bool tokenize(std::string_view text, const TokenSink& sink);
    // The two paths alone, for tests that check they agree on ASCII input.
    bool tokenizeAscii(std::string_view text, int base, const TokenSink& sink);
    bool tokenizeIcu(std::string_view text, int base, const TokenSink& sink);

private:
    struct Impl;
    Impl* impl_;
};

// Convenience for tests and tools: the folded tokens of `text`.
std::vector<std::string> tokenizeToStrings(std::string_view text);

// The tokens of one text, computed ahead of time on an extraction thread so that the single
// writer thread's FTS5 insert only replays them (tokenizing is about a fifth of the FTS5
// indexing that caps ingest throughput). Folded bytes are kept only for tokens whose folded
// form differs from the text they cover.
struct PretokenizedText {
    struct Token {
        int32_t start = 0, end = 0;  // byte range in the text
        uint32_t folded = 0;         // offset in `foldedBytes`, or kSameAsText
        uint32_t foldedSize = 0;
    };
    static constexpr uint32_t kSameAsText = UINT32_MAX;
    size_t textSize = 0;
    uint64_t textHash = 0;  // XXH3-64 of the text: replayed only for that very text
    bool complete = false;  // false: tokenizing stopped early; never replayed
    std::vector<Token> tokens;
    std::string foldedBytes;

    size_t memoryBytes() const { return tokens.size() * sizeof(Token) + foldedBytes.size(); }
};

PretokenizedText pretokenize(TextTokenizer& tokenizer, std::string_view text);

// While alive, an FTS5 document insert on this thread whose text has the size and hash
// `tokens` was computed from replays `tokens` instead of tokenizing; anything else
// (deletes, queries, snippets, any other text) goes through the tokenizer as usual, so a
// stream that does not belong to the text is never indexed.
class ScopedTokenReplay {
public:
    explicit ScopedTokenReplay(const PretokenizedText* tokens);
    ~ScopedTokenReplay();
    ScopedTokenReplay(const ScopedTokenReplay&) = delete;
    ScopedTokenReplay& operator=(const ScopedTokenReplay&) = delete;

private:
    const PretokenizedText* previous_;
};

}  // namespace lectern::store
