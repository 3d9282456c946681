// Normalizers of tokenizer.json (NFC, NFD, NFKC, NFKD, Lowercase) through ICU, applied
// to valid UTF-8 text. ICU works in UTF-16, so each step converts there and back.
#include "io/tokenizer_impl.h"

#if LECTERN_HAVE_ICU
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#endif

namespace lectern::io {

#if LECTERN_HAVE_ICU
namespace {

std::u16string toUtf16(std::string_view s) {
    std::u16string out(s.size() + 1, u'\0');  // UTF-16 never needs more units than UTF-8 bytes
    int32_t len = 0;
    UErrorCode err = U_ZERO_ERROR;
    u_strFromUTF8(reinterpret_cast<UChar*>(out.data()), int32_t(out.size()), &len, s.data(),
                  int32_t(s.size()), &err);
    out.resize(U_SUCCESS(err) ? size_t(len) : 0);
    return out;
}

std::string toUtf8(const std::u16string& s) {
    std::string out(s.size() * 3 + 1, '\0');
    int32_t len = 0;
    UErrorCode err = U_ZERO_ERROR;
    u_strToUTF8(out.data(), int32_t(out.size()), &len, reinterpret_cast<const UChar*>(s.data()),
                int32_t(s.size()), &err);
    out.resize(U_SUCCESS(err) ? size_t(len) : 0);
    return out;
}

// Runs an ICU "preflight then fill" string function, growing the buffer once if needed.
template <typename Fn>
std::u16string icuTransform(const std::u16string& in, Fn fn) {
    std::u16string out(in.size() * 2 + 16, u'\0');
    for (int attempt = 0; attempt < 2; ++attempt) {
        UErrorCode err = U_ZERO_ERROR;
        const int32_t len = fn(reinterpret_cast<const UChar*>(in.data()), int32_t(in.size()),
                               reinterpret_cast<UChar*>(out.data()), int32_t(out.size()), &err);
        if (err == U_BUFFER_OVERFLOW_ERROR) {
            out.assign(size_t(len) + 1, u'\0');
            continue;
        }
        out.resize(U_SUCCESS(err) ? size_t(len) : 0);
        return U_SUCCESS(err) ? out : in;
    }
    return in;
}

const UNormalizer2* instance(NormalizerOp op) {
    UErrorCode err = U_ZERO_ERROR;
    switch (op) {
        case NormalizerOp::NFC:
            return unorm2_getNFCInstance(&err);
        case NormalizerOp::NFD:
            return unorm2_getNFDInstance(&err);
        case NormalizerOp::NFKC:
            return unorm2_getNFKCInstance(&err);
        case NormalizerOp::NFKD:
            return unorm2_getNFKDInstance(&err);
        case NormalizerOp::Lowercase:
            break;
    }
    return nullptr;
}

}  // namespace

std::string normalizeText(const std::vector<NormalizerOp>& ops, std::string_view text) {
    if (ops.empty()) return std::string(text);
    std::u16string s = toUtf16(text);
    for (NormalizerOp op : ops) {
        if (op == NormalizerOp::Lowercase) {
            s = icuTransform(s, [](const UChar* in, int32_t n, UChar* out, int32_t cap,
                                   UErrorCode* e) { return u_strToLower(out, cap, in, n, "", e); });
        } else if (const UNormalizer2* norm = instance(op)) {
            s = icuTransform(
                s, [norm](const UChar* in, int32_t n, UChar* out, int32_t cap, UErrorCode* e) {
                    return unorm2_normalize(norm, in, n, out, cap, e);
                });
        }
    }
    return toUtf8(s);
}

#else

std::string normalizeText(const std::vector<NormalizerOp>&, std::string_view text) {
    return std::string(text);  // unreachable: without ICU no tokenizer loads
}

#endif

}  // namespace lectern::io
