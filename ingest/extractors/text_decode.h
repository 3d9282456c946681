// Streaming text decoding: bytes in any charset -> valid NFC UTF-8, in bounded chunks.
// The charset comes from a BOM (UTF-8, UTF-16LE/BE, UTF-32LE/BE), else from the first
// 64 KiB (valid UTF-8 wins; then ICU's ucsdet). Invalid input never stops decoding: each
// maximal invalid subpart (Unicode's "best practice", as in WHATWG) becomes one U+FFFD and
// its bytes are counted; NUL characters are dropped and counted. No ICU call is handed
// more than kMaxPiece bytes (< 2^31 UTF-16 units whatever the input size).
// Detection sees only the first 64 KiB: a file that turns Latin-1 after that is decoded
// as UTF-8 and its odd bytes are replaced and counted, never dropped silently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "lectern/status.h"

namespace lectern::ingest {

struct DecodeStats {
    std::string charset;           // "UTF-8", "UTF-16LE", "windows-1252", ...
    bool bom = false;              // a byte-order mark was found and removed
    int64_t replacedBytes = 0;     // invalid input bytes replaced
    int64_t replacementChars = 0;  // U+FFFD characters written for them
    int64_t nulChars = 0;          // NUL characters removed
    int64_t maxIcuUnits = 0;       // the largest input handed to any single ICU call
};

class TextDecoder {
public:
    static constexpr size_t kMaxPiece = size_t(1) << 20;  // bytes per internal step
    static constexpr size_t kDetectBytes = size_t(64) << 10;

    // `charset` empty: detect. Otherwise an ICU converter name ("UTF-8", "ISO-8859-1" ...).
    explicit TextDecoder(std::string charset = {});
    ~TextDecoder();
    TextDecoder(const TextDecoder&) = delete;
    TextDecoder& operator=(const TextDecoder&) = delete;

    // Appends the decoded text of `bytes` to `out`; the input may stop mid-character.
    Status decode(std::string_view bytes, std::string& out);
    // Flushes what is held back (a truncated final sequence becomes U+FFFD).
    Status finish(std::string& out);
    const DecodeStats& stats() const { return stats_; }

private:
    struct Impl;
    Status start(std::string_view sample);
    Status convert(std::string_view bytes, bool flush, std::string& out);
    void convertUtf8(std::string_view bytes, bool flush, std::string& utf8);
    Status convertIcu(std::string_view bytes, bool flush, std::string& utf8);
    Status normalize(std::string& utf8, bool flush, std::string& out);

    std::unique_ptr<Impl> impl_;
    DecodeStats stats_;
    std::string pending_;   // bytes held until the charset is known / partial sequences
    std::string nfcCarry_;  // decoded text after the last normalisation boundary
    bool started_ = false;
};

// Detection alone, on a sample: returns the charset name and whether a BOM of
// `bomLength` bytes starts the sample.
std::string detectCharset(std::string_view sample, size_t* bomLength);

// One-shot helper for small inputs (mail parts, fuzzing).
std::string decodeToUtf8(std::string_view bytes, DecodeStats* stats, std::string charset = {});

// True when `s` is entirely valid UTF-8 (strict, as U8_NEXT checks).
bool isValidUtf8(std::string_view s);

}  // namespace lectern::ingest
