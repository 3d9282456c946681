// The FTS5 tokenizer "lectern": ICU word segmentation with NFKC case folding and
// diacritic folding (so `é`, `É` and `e` match), CJK ideographs and kana split into
// single characters (a multi-character CJK query becomes a phrase, so a 2-character word
// is found however ICU's dictionary segments the text). Registered on every connection.
#pragma once

#include <sqlite3.h>

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

}  // namespace lectern::store
