// The split regexes of byte-level BPE tokenizers, as hand-written matchers over code
// points (faster than a regex engine and free of one). Each function mirrors its pattern's
// alternatives in order, with the backtracking the pattern implies spelled out.
//   GPT-2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   Llama-3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//            ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// \p{L}, \p{N} are the general categories L* and N*; \s is the White_Space property, as
// in Oniguruma, which Hugging Face tokenizers uses.
#include "io/tokenizer_impl.h"
#include "io/utf8.h"

#if LECTERN_HAVE_ICU
#include <unicode/uchar.h>
#endif

namespace lectern::io {

namespace {

enum class Cls : uint8_t { Letter, Number, Space, Other };

Cls classify(char32_t c) {
    if (c < 0x80) {  // the common case without a table look-up
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return Cls::Letter;
        if (c >= '0' && c <= '9') return Cls::Number;
        if (c == ' ' || (c >= 0x09 && c <= 0x0d)) return Cls::Space;
        return Cls::Other;
    }
    if (isUnicodeWhiteSpace(c)) return Cls::Space;
#if LECTERN_HAVE_ICU
    const uint32_t mask = U_GET_GC_MASK(UChar32(c));
    if (mask & U_GC_L_MASK) return Cls::Letter;
    if (mask & U_GC_N_MASK) return Cls::Number;
#endif
    return Cls::Other;
}

struct Text {
    std::vector<char32_t> cp;
    std::vector<Cls> cls;
    std::vector<size_t> byteAt;  // byte offset of each code point, plus the end
};

Text decode(std::string_view s) {
    Text t;
    const auto* u = reinterpret_cast<const unsigned char*>(s.data());
    for (size_t i = 0; i < s.size();) {
        char32_t c = 0xfffd;
        int len = utf8Decode(u, i, s.size(), &c);
        if (len == 0) len = 1;  // callers pass valid UTF-8; stay safe regardless
        t.cp.push_back(c);
        t.cls.push_back(classify(c));
        t.byteAt.push_back(i);
        i += size_t(len);
    }
    t.byteAt.push_back(s.size());
    return t;
}

size_t runOf(const Text& t, size_t i, Cls cls) {
    while (i < t.cp.size() && t.cls[i] == cls) ++i;
    return i;
}

size_t contraction(const Text& t, size_t i, bool ignoreCase) {
    if (t.cp[i] != '\'' || i + 1 >= t.cp.size()) return 0;
    auto is = [&](size_t k, char c) {
        if (k >= t.cp.size()) return false;
        const char32_t x = ignoreCase && t.cp[k] < 0x80 ? (t.cp[k] | 0x20) : t.cp[k];
        return x == char32_t(c);
    };
    if (is(i + 1, 's') || is(i + 1, 't') || is(i + 1, 'm') || is(i + 1, 'd')) return 2;
    if ((is(i + 1, 'r') && is(i + 2, 'e')) || (is(i + 1, 'v') && is(i + 2, 'e')) ||
        (is(i + 1, 'l') && is(i + 2, 'l'))) {
        return 3;
    }
    return 0;
}

// \s+(?!\S) then \s+, for a whitespace run starting at i.
size_t trailingSpace(const Text& t, size_t i) {
    const size_t end = runOf(t, i, Cls::Space);
    if (end == t.cp.size() || end - i == 1) return end - i;
    return end - i - 1;  // leave the last space to prefix the next word
}

// ' ?X+' for class X, or 0.
size_t spacedRun(const Text& t, size_t i, Cls cls) {
    const size_t j = t.cp[i] == ' ' ? i + 1 : i;
    if (j >= t.cp.size() || t.cls[j] != cls) return 0;
    return runOf(t, j, cls) - i;
}

size_t matchGpt2(const Text& t, size_t i) {
    if (size_t n = contraction(t, i, false)) return n;
    for (Cls cls : {Cls::Letter, Cls::Number, Cls::Other}) {
        if (size_t n = spacedRun(t, i, cls)) return n;
    }
    return trailingSpace(t, i);
}

bool isCrLf(char32_t c) {
    return c == '\r' || c == '\n';
}

size_t matchLlama3(const Text& t, size_t i) {
    const size_t n = t.cp.size();
    if (size_t k = contraction(t, i, true)) return k;
    // [^\r\n\p{L}\p{N}]?\p{L}+
    size_t j = i;
    if (t.cls[j] != Cls::Letter && t.cls[j] != Cls::Number && !isCrLf(t.cp[j]) && j + 1 < n &&
        t.cls[j + 1] == Cls::Letter) {
        ++j;
    }
    if (t.cls[j] == Cls::Letter) return runOf(t, j, Cls::Letter) - i;
    if (t.cls[i] == Cls::Number) return std::min<size_t>(runOf(t, i, Cls::Number) - i, 3);
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    j = t.cp[i] == ' ' ? i + 1 : i;
    if (j < n && t.cls[j] == Cls::Other) {
        j = runOf(t, j, Cls::Other);
        while (j < n && isCrLf(t.cp[j])) ++j;
        return j - i;
    }
    // \s*[\r\n]+ : up to the last CR or LF of the whitespace run
    const size_t end = runOf(t, i, Cls::Space);
    for (size_t k = end; k-- > i;) {
        if (isCrLf(t.cp[k])) return k + 1 - i;
    }
    return trailingSpace(t, i);
}

}  // namespace

bool isUnicodeWhiteSpace(char32_t c) {
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0d);
#if LECTERN_HAVE_ICU
    return u_isUWhiteSpace(UChar32(c));
#else
    return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
           c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
#endif
}

void pretokenSplit(SplitPattern pattern, std::string_view text,
                   std::vector<std::pair<size_t, size_t>>& out) {
    if (text.empty()) return;
    if (pattern == SplitPattern::None) {
        out.emplace_back(0, text.size());
        return;
    }
    const Text t = decode(text);
    for (size_t i = 0; i < t.cp.size();) {
        size_t len = pattern == SplitPattern::Gpt2 ? matchGpt2(t, i) : matchLlama3(t, i);
        if (len == 0) len = 1;  // unreachable by construction; guarantees progress
        out.emplace_back(t.byteAt[i], t.byteAt[i + len]);
        i += len;
    }
}

}  // namespace lectern::io
