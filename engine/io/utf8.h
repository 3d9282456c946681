// UTF-8 helpers shared by the readers (names must be valid UTF-8) and the tokenizer:
// strict validation (no overlongs, no surrogates, nothing past U+10FFFF) and decoding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace lectern::io {

// Decodes one code point at s[i..n). On success returns its length (1-4) and sets *cp;
// on an invalid or truncated sequence returns 0.
inline int utf8Decode(const unsigned char* s, size_t i, size_t n, char32_t* cp) {
    const unsigned char b0 = s[i];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    int len;
    char32_t min, c;
    if ((b0 & 0xe0) == 0xc0) {
        len = 2, min = 0x80, c = b0 & 0x1f;
    } else if ((b0 & 0xf0) == 0xe0) {
        len = 3, min = 0x800, c = b0 & 0x0f;
    } else if ((b0 & 0xf8) == 0xf0) {
        len = 4, min = 0x10000, c = b0 & 0x07;
    } else {
        return 0;
    }
    if (n - i < size_t(len)) return 0;
    for (int k = 1; k < len; ++k) {
        if ((s[i + k] & 0xc0) != 0x80) return 0;
        c = (c << 6) | (s[i + k] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
    *cp = c;
    return len;
}

inline bool utf8Valid(const char* data, size_t n) {
    const auto* s = reinterpret_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n;) {
        char32_t cp;
        const int len = utf8Decode(s, i, n, &cp);
        if (len == 0) return false;
        i += size_t(len);
    }
    return true;
}

inline void utf8Append(std::string& out, char32_t c) {
    if (c < 0x80) {
        out.push_back(char(c));
    } else if (c < 0x800) {
        out.push_back(char(0xc0 | (c >> 6)));
        out.push_back(char(0x80 | (c & 0x3f)));
    } else if (c < 0x10000) {
        out.push_back(char(0xe0 | (c >> 12)));
        out.push_back(char(0x80 | ((c >> 6) & 0x3f)));
        out.push_back(char(0x80 | (c & 0x3f)));
    } else {
        out.push_back(char(0xf0 | (c >> 18)));
        out.push_back(char(0x80 | ((c >> 12) & 0x3f)));
        out.push_back(char(0x80 | ((c >> 6) & 0x3f)));
        out.push_back(char(0x80 | (c & 0x3f)));
    }
}

}  // namespace lectern::io
