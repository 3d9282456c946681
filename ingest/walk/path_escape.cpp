// Reversible escaping of raw file-name bytes into printable, valid UTF-8 (walker.h).
// Names on Linux are arbitrary bytes except '/' and NUL; the store keeps text, so names
// with invalid UTF-8 or control characters (a newline, say) are escaped, not lost.
#include <cstdint>
#include <cstdio>

#include "ingest/walk/walker.h"

namespace lectern::walk {
namespace {

// Length of the valid UTF-8 sequence starting at s[i] (strict: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0 when the byte does not start one.
size_t validSequenceLength(std::string_view s, size_t i) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    if (b(i + 1) < lo || b(i + 1) > hi) return 0;
    for (size_t k = 2; k < len; ++k) {
        if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
    }
    return len;
}

void appendHexEscape(std::string& out, unsigned char c) {
    char buf[5];
    std::snprintf(buf, sizeof buf, "\\x%02X", c);
    out += buf;
}

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::string escapePath(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    size_t i = 0;
    while (i < raw.size()) {
        const unsigned char c = static_cast<unsigned char>(raw[i]);
        if (c == '\\') {
            out += "\\\\";
            ++i;
        } else if (c < 0x20 || c == 0x7F) {
            appendHexEscape(out, c);
            ++i;
        } else if (c < 0x80) {
            out += static_cast<char>(c);
            ++i;
        } else if (const size_t len = validSequenceLength(raw, i); len > 0) {
            out.append(raw.substr(i, len));
            i += len;
        } else {
            appendHexEscape(out, c);
            ++i;
        }
    }
    return out;
}

Expected<std::string> unescapePath(std::string_view escaped) {
    std::string out;
    out.reserve(escaped.size());
    for (size_t i = 0; i < escaped.size(); ++i) {
        if (escaped[i] != '\\') {
            out += escaped[i];
            continue;
        }
        if (i + 1 < escaped.size() && escaped[i + 1] == '\\') {
            out += '\\';
            ++i;
            continue;
        }
        if (i + 3 < escaped.size() && escaped[i + 1] == 'x') {
            const int hi = hexValue(escaped[i + 2]), lo = hexValue(escaped[i + 3]);
            if (hi >= 0 && lo >= 0) {
                out += static_cast<char>(hi * 16 + lo);
                i += 3;
                continue;
            }
        }
        return Status::error("escaped path: bad escape at offset " + std::to_string(i));
    }
    return out;
}

}  // namespace lectern::walk
