// Streaming decoder (text_decode.h). UTF-8 input is validated here (the common case and
// the one whose replacement counts must be exact); other charsets go through an ICU
// converter whose error callback substitutes and counts. NFC is applied up to the last
// normalisation boundary of each piece; the rest waits for the next piece.
#include "ingest/extractors/text_decode.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/ucnv.h>
#include <unicode/ucnv_cb.h>
#include <unicode/ucsdet.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <vector>

namespace lectern::ingest {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

// Length of the maximal prefix of a UTF-8 sequence at s[i..] that could still be valid:
// returns {need, have}: need = full length for the lead byte (0 if not a lead byte),
// have = how many bytes from i match a valid prefix.
struct SeqCheck {
    int need;
    int have;
};

SeqCheck checkSequence(const unsigned char* s, size_t avail) {
    const unsigned char c = s[0];
    int need = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return {0, 0};
    }
    int have = 1;
    while (have < need && size_t(have) < avail) {
        const unsigned char b = s[have];
        const unsigned char l = have == 1 ? lo : 0x80, h = have == 1 ? hi : 0xBF;
        if (b < l || b > h) break;
        ++have;
    }
    return {need, have};
}

void toUCallback(const void* context, UConverterToUnicodeArgs* args, const char*, int32_t length,
                 UConverterCallbackReason reason, UErrorCode* err) {
    if (reason > UCNV_IRREGULAR) return;  // reset, close, clone: nothing to substitute
    auto* stats = static_cast<DecodeStats*>(const_cast<void*>(context));
    stats->replacedBytes += length;
    stats->replacementChars += 1;
    const UChar fffd = 0xFFFD;
    *err = U_ZERO_ERROR;
    ucnv_cbToUWriteUChars(args, &fffd, 1, 0, err);
}

void dropNuls(std::string& s, DecodeStats& stats) {
    const auto it = std::remove(s.begin(), s.end(), '\0');
    stats.nulChars += s.end() - it;
    s.erase(it, s.end());
}

// Heuristic for BOM-less UTF-16: NULs concentrated on one byte of each pair.
std::string utf16ByNuls(std::string_view sample) {
    size_t even = 0, odd = 0;
    const size_t pairs = sample.size() / 2;
    for (size_t i = 0; i + 1 < sample.size(); i += 2) {
        even += sample[i] == '\0';
        odd += sample[i + 1] == '\0';
    }
    if (pairs < 2) return {};
    if (odd * 10 >= pairs * 3 && even * 20 < pairs) return "UTF-16LE";
    if (even * 10 >= pairs * 3 && odd * 20 < pairs) return "UTF-16BE";
    return {};
}

// Counts valid multi-byte sequences and invalid subparts (a truncated tail is ignored).
void utf8Census(std::string_view s, size_t* validMulti, size_t* invalid) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    size_t i = 0;
    while (i < s.size()) {
        if (p[i] < 0x80) {
            ++i;
            continue;
        }
        const SeqCheck c = checkSequence(p + i, s.size() - i);
        if (c.need > 0 && c.have == c.need) {
            ++*validMulti;
            i += size_t(c.need);
        } else {
            if (i + size_t(c.have) < s.size()) ++*invalid;
            i += size_t(std::max(c.have, 1));
        }
    }
}

std::string ucsdetCharset(std::string_view sample) {
    UErrorCode ec = U_ZERO_ERROR;
    UCharsetDetector* det = ucsdet_open(&ec);
    if (U_FAILURE(ec)) return "UTF-8";
    ucsdet_setText(det, sample.data(), int32_t(sample.size()), &ec);
    const UCharsetMatch* match = ucsdet_detect(det, &ec);
    std::string name = "UTF-8";
    if (U_SUCCESS(ec) && match) {
        const char* n = ucsdet_getName(match, &ec);
        const int32_t confidence = ucsdet_getConfidence(match, &ec);
        if (U_SUCCESS(ec) && n && confidence >= 10) name = n;
    }
    ucsdet_close(det);
    // Names ucsdet reports that are not converters (e.g. "IBM424_rtl") fall back to UTF-8.
    UErrorCode probe = U_ZERO_ERROR;
    UConverter* conv = ucnv_open(name.c_str(), &probe);
    if (U_FAILURE(probe)) return "UTF-8";
    ucnv_close(conv);
    return name;
}

}  // namespace

bool isValidUtf8(std::string_view s) {
    int32_t i = 0;
    const int32_t n = int32_t(std::min<size_t>(s.size(), INT32_MAX));
    while (i < n) {
        UChar32 c;
        U8_NEXT(s.data(), i, n, c);
        if (c < 0) return false;
    }
    return s.size() <= size_t(INT32_MAX);
}

std::string detectCharset(std::string_view s, size_t* bomLength) {
    const auto starts = [&](std::string_view magic) { return s.substr(0, magic.size()) == magic; };
    *bomLength = 0;
    using namespace std::string_view_literals;
    if (starts("\xEF\xBB\xBF"sv)) return *bomLength = 3, "UTF-8";
    if (starts("\xFF\xFE\x00\x00"sv)) return *bomLength = 4, "UTF-32LE";
    if (starts("\x00\x00\xFE\xFF"sv)) return *bomLength = 4, "UTF-32BE";
    if (starts("\xFF\xFE"sv)) return *bomLength = 2, "UTF-16LE";
    if (starts("\xFE\xFF"sv)) return *bomLength = 2, "UTF-16BE";
    if (std::string u16 = utf16ByNuls(s); !u16.empty()) return u16;
    size_t validMulti = 0, invalid = 0;
    utf8Census(s, &validMulti, &invalid);
    // Valid UTF-8, or UTF-8 text with a few damaged bytes: decode as UTF-8 and count.
    if (invalid == 0 || (validMulti > 0 && invalid <= validMulti)) return "UTF-8";
    return ucsdetCharset(s);
}

struct TextDecoder::Impl {
    UConverter* conv = nullptr;
    const icu::Normalizer2* nfc = nullptr;
    bool utf8 = true;
    std::vector<UChar> units;
    UChar heldLead = 0;  // a lead surrogate split from its trail by a full buffer
    ~Impl() {
        if (conv) ucnv_close(conv);
    }
};

TextDecoder::TextDecoder(std::string charset) : impl_(std::make_unique<Impl>()) {
    stats_.charset = std::move(charset);
}

TextDecoder::~TextDecoder() = default;

Status TextDecoder::start(std::string_view sample) {
    started_ = true;
    UErrorCode ec = U_ZERO_ERROR;
    impl_->nfc = icu::Normalizer2::getNFCInstance(ec);
    if (U_FAILURE(ec)) return Status::error(std::string("ICU NFC data: ") + u_errorName(ec));
    size_t bom = 0;
    const std::string detected = detectCharset(sample, &bom);
    if (stats_.charset.empty() || bom > 0) stats_.charset = detected;
    stats_.bom = bom > 0;
    pending_.erase(0, bom);
    impl_->utf8 = stats_.charset == "UTF-8";
    if (impl_->utf8) return Status::ok();
    impl_->conv = ucnv_open(stats_.charset.c_str(), &ec);
    if (U_FAILURE(ec)) return Status::error("unknown charset " + stats_.charset);
    ucnv_setToUCallBack(impl_->conv, toUCallback, &stats_, nullptr, nullptr, &ec);
    return U_FAILURE(ec) ? Status::error(std::string("ICU: ") + u_errorName(ec)) : Status::ok();
}

Status TextDecoder::decode(std::string_view bytes, std::string& out) {
    if (!started_) {
        const size_t want = kDetectBytes - std::min(kDetectBytes, pending_.size());
        pending_.append(bytes.substr(0, want));
        bytes.remove_prefix(std::min(want, bytes.size()));
        if (pending_.size() < kDetectBytes) return Status::ok();
        if (Status s = start(pending_); !s) return s;
        std::string head;
        head.swap(pending_);
        if (Status s = convert(head, false, out); !s) return s;
    }
    while (!bytes.empty()) {
        const size_t n = std::min(bytes.size(), kMaxPiece);
        if (Status s = convert(bytes.substr(0, n), false, out); !s) return s;
        bytes.remove_prefix(n);
    }
    return Status::ok();
}

Status TextDecoder::finish(std::string& out) {
    if (!started_) {
        if (Status s = start(pending_); !s) return s;
        std::string head;
        head.swap(pending_);
        return convert(head, true, out);
    }
    return convert({}, true, out);
}

Status TextDecoder::convert(std::string_view bytes, bool flush, std::string& out) {
    std::string utf8;
    if (impl_->utf8) {
        convertUtf8(bytes, flush, utf8);
    } else if (Status s = convertIcu(bytes, flush, utf8); !s) {
        return s;
    }
    dropNuls(utf8, stats_);
    return normalize(utf8, flush, out);
}

void TextDecoder::convertUtf8(std::string_view bytes, bool flush, std::string& utf8) {
    std::string in;
    std::string_view s = bytes;
    if (!pending_.empty()) {  // a sequence split by the previous piece
        in = pending_ + std::string(bytes);
        pending_.clear();
        s = in;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    utf8.reserve(s.size());
    size_t i = 0, runStart = 0;
    while (i < s.size()) {
        if (p[i] < 0x80) {
            ++i;
            continue;
        }
        const SeqCheck c = checkSequence(p + i, s.size() - i);
        if (c.need > 0 && c.have == c.need) {
            i += size_t(c.need);
            continue;
        }
        utf8.append(s.substr(runStart, i - runStart));
        const size_t bad = size_t(std::max(c.have, 1));
        if (!flush && c.need > 0 && i + bad == s.size()) {  // may complete in the next piece
            pending_.assign(s.substr(i));
            return;
        }
        utf8 += kReplacement;
        stats_.replacedBytes += int64_t(bad);
        stats_.replacementChars += 1;
        i += bad;
        runStart = i;
    }
    utf8.append(s.substr(runStart));
}

Status TextDecoder::convertIcu(std::string_view bytes, bool flush, std::string& utf8) {
    Impl& m = *impl_;
    m.units.resize(2 * bytes.size() + 64);
    const char* src = bytes.data();
    const char* end = src + bytes.size();
    stats_.maxIcuUnits = std::max<int64_t>(stats_.maxIcuUnits, int64_t(bytes.size()));
    for (;;) {
        UChar* target = m.units.data();
        if (m.heldLead) *target++ = m.heldLead;
        m.heldLead = 0;
        UErrorCode ec = U_ZERO_ERROR;
        ucnv_toUnicode(m.conv, &target, m.units.data() + m.units.size(), &src, end, nullptr, flush,
                       &ec);
        const bool overflow = ec == U_BUFFER_OVERFLOW_ERROR;
        if (U_FAILURE(ec) && !overflow)
            return Status::error(std::string("ICU: ") + u_errorName(ec));
        int32_t len = int32_t(target - m.units.data());
        if (overflow && len > 0 && U16_IS_LEAD(m.units[size_t(len) - 1]))
            m.heldLead = m.units[size_t(--len)];
        std::string chunk;
        UErrorCode ec2 = U_ZERO_ERROR;
        int32_t subs = 0;
        chunk.resize(size_t(len) * 3 + 4);
        int32_t written = 0;
        u_strToUTF8WithSub(chunk.data(), int32_t(chunk.size()), &written, m.units.data(), len,
                           0xFFFD, &subs, &ec2);
        if (U_FAILURE(ec2)) return Status::error(std::string("ICU: ") + u_errorName(ec2));
        chunk.resize(size_t(written));
        stats_.replacedBytes += subs;
        stats_.replacementChars += subs;
        utf8 += chunk;
        if (!overflow) break;
    }
    return Status::ok();
}

Status TextDecoder::normalize(std::string& utf8, bool flush, std::string& out) {
    std::string text = nfcCarry_ + utf8;
    nfcCarry_.clear();
    size_t cut = text.size();
    if (!flush) {
        // Hold back the tail from the last code point that starts a normalisation unit
        // (looking back at most 1024 code points; past that, cut anyway).
        int32_t i = int32_t(text.size());
        for (int steps = 0; i > 0 && steps < 1024; ++steps) {
            UChar32 c;
            int32_t j = i;
            U8_PREV(text.data(), 0, j, c);
            if (c >= 0 && impl_->nfc->hasBoundaryBefore(c)) {
                cut = size_t(j);
                break;
            }
            i = j;
        }
        nfcCarry_.assign(text, cut, std::string::npos);
        text.resize(cut);
    }
    if (text.empty()) return Status::ok();
    stats_.maxIcuUnits = std::max<int64_t>(stats_.maxIcuUnits, int64_t(text.size()));
    UErrorCode ec = U_ZERO_ERROR;
    const icu::StringPiece piece(text.data(), int32_t(text.size()));
    if (impl_->nfc->isNormalizedUTF8(piece, ec) && U_SUCCESS(ec)) {
        out += text;
        return Status::ok();
    }
    ec = U_ZERO_ERROR;
    icu::StringByteSink<std::string> sink(&out);
    impl_->nfc->normalizeUTF8(0, piece, sink, nullptr, ec);
    if (U_FAILURE(ec)) return Status::error(std::string("ICU NFC: ") + u_errorName(ec));
    return Status::ok();
}

std::string decodeToUtf8(std::string_view bytes, DecodeStats* stats, std::string charset) {
    TextDecoder decoder(std::move(charset));
    std::string out;
    Status s = decoder.decode(bytes, out);
    if (s) s = decoder.finish(out);
    if (stats) *stats = decoder.stats();
    if (!s) return out + kReplacement;
    return out;
}

}  // namespace lectern::ingest
