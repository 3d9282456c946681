// The "lectern" FTS5 tokenizer: ICU word breaks, NFKC_Casefold, diacritic folding, CJK
// as single characters. See icu_tokenizer.h for why; this file is the mechanics.
#include "icu_tokenizer.h"

#include <unicode/ubrk.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uscript.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>
#include <xxhash.h>

#include <new>

namespace lectern::store {
namespace {

constexpr size_t kWindowBytes = 128 * 1024;  // per ICU call: far below 2^31 UTF-16 units
constexpr size_t kMaxTokenBytes = 200;       // longer "words" (base64, hashes) are noise

bool isAsciiWord(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
bool isAsciiAlpha(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool isAsciiDigit(unsigned char c) {
    return c >= '0' && c <= '9';
}

bool allAscii(std::string_view s) {
    for (unsigned char c : s) {
        if (c >= 0x80) return false;
    }
    return true;
}

// Cuts windows at whitespace where possible so no word is split, else at a UTF-8 lead.
size_t windowEnd(std::string_view text, size_t pos) {
    if (text.size() - pos <= kWindowBytes) return text.size();
    const size_t limit = pos + kWindowBytes;
    for (size_t i = limit; i > limit - 4096; --i) {
        const char c = text[i];
        if (c == '\n' || c == ' ' || c == '\t' || c == '\r') return i;
    }
    size_t i = limit;
    while (i > pos + 1 && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) --i;
    return i;
}

bool isCjkCharacter(UChar32 c) {
    UErrorCode status = U_ZERO_ERROR;
    const UScriptCode script = uscript_getScript(c, &status);
    return U_SUCCESS(status) &&
           (script == USCRIPT_HAN || script == USCRIPT_HIRAGANA || script == USCRIPT_KATAKANA);
}

bool emitFolded(std::string_view token, int start, int end, const TokenSink& sink) {
    if (token.empty() || token.size() > kMaxTokenBytes) return true;
    return sink(token, start, end);
}

}  // namespace

struct TextTokenizer::Impl {
    UBreakIterator* breaker = nullptr;
    const UNormalizer2* nfkcCasefold = nullptr;
    const UNormalizer2* nfd = nullptr;
    const UNormalizer2* nfc = nullptr;
    std::vector<UChar> text16;
    std::vector<int32_t> offsets;  // UTF-8 byte offset of each UTF-16 unit, plus the end
    std::vector<UChar> bufA, bufB;
    std::string folded;

    // `in` → `out` through `norm`; false when ICU fails (the token is then skipped).
    bool normalize(const UNormalizer2* norm, const UChar* in, int32_t n, std::vector<UChar>& out) {
        if (out.size() < size_t(n) * 3 + 16) out.resize(size_t(n) * 3 + 16);
        UErrorCode status = U_ZERO_ERROR;
        int32_t len = unorm2_normalize(norm, in, n, out.data(), int32_t(out.size()), &status);
        if (status == U_BUFFER_OVERFLOW_ERROR) {
            out.resize(size_t(len) + 1);
            status = U_ZERO_ERROR;
            len = unorm2_normalize(norm, in, n, out.data(), int32_t(out.size()), &status);
        }
        if (U_FAILURE(status)) return false;
        out.resize(size_t(len));
        return true;
    }

    // NFKC_Casefold, then NFD, drop non-spacing marks (diacritics), then NFC, as UTF-8.
    bool fold(const UChar* in, int32_t n) {
        folded.clear();
        bool ascii = true;
        for (int32_t i = 0; i < n && ascii; ++i) ascii = in[i] < 0x80;
        if (ascii) {
            for (int32_t i = 0; i < n; ++i) {
                const UChar c = in[i];
                folded.push_back(char(c >= 'A' && c <= 'Z' ? c + 32 : c));
            }
            return true;
        }
        if (!normalize(nfkcCasefold, in, n, bufA)) return false;
        if (!normalize(nfd, bufA.data(), int32_t(bufA.size()), bufB)) return false;
        size_t kept = 0;
        for (size_t i = 0; i < bufB.size();) {
            UChar32 c;
            const size_t start = i;
            U16_NEXT(bufB.data(), i, bufB.size(), c);
            if (u_charType(c) == U_NON_SPACING_MARK) continue;
            for (size_t k = start; k < i; ++k) bufB[kept++] = bufB[k];
        }
        if (!normalize(nfc, bufB.data(), int32_t(kept), bufA)) return false;
        UErrorCode status = U_ZERO_ERROR;
        int32_t len8 = 0;
        folded.resize(bufA.size() * 3 + 4);
        u_strToUTF8WithSub(folded.data(), int32_t(folded.size()), &len8, bufA.data(),
                           int32_t(bufA.size()), 0xFFFD, nullptr, &status);
        if (U_FAILURE(status)) return false;
        folded.resize(size_t(len8));
        return true;
    }

    bool emitRun(int32_t from, int32_t to, int base, const TokenSink& sink) {
        if (to <= from || !fold(text16.data() + from, to - from)) return true;
        return emitFolded(folded, base + offsets[from], base + offsets[to], sink);
    }

    // One ICU word: CJK characters go out one by one, other runs as one token each.
    bool emitWord(int32_t start, int32_t end, int base, const TokenSink& sink) {
        int32_t runStart = start;
        for (int32_t i = start; i < end;) {
            const int32_t cpStart = i;
            UChar32 c;
            U16_NEXT(text16.data(), i, end, c);
            if (!isCjkCharacter(c)) continue;
            if (!emitRun(runStart, cpStart, base, sink)) return false;
            if (!emitRun(cpStart, i, base, sink)) return false;
            runStart = i;
        }
        return emitRun(runStart, end, base, sink);
    }
};

TextTokenizer::TextTokenizer() : impl_(new Impl) {
    UErrorCode status = U_ZERO_ERROR;
    impl_->breaker = ubrk_open(UBRK_WORD, "", nullptr, 0, &status);
    if (U_FAILURE(status)) impl_->breaker = nullptr;
    status = U_ZERO_ERROR;
    impl_->nfkcCasefold = unorm2_getNFKCCasefoldInstance(&status);
    impl_->nfd = unorm2_getNFDInstance(&status);
    impl_->nfc = unorm2_getNFCInstance(&status);
    if (U_FAILURE(status)) impl_->nfkcCasefold = impl_->nfd = impl_->nfc = nullptr;
}

TextTokenizer::~TextTokenizer() {
    if (impl_->breaker) ubrk_close(impl_->breaker);
    delete impl_;
}

bool TextTokenizer::tokenize(std::string_view text, const TokenSink& sink) {
    for (size_t pos = 0; pos < text.size();) {
        const size_t end = windowEnd(text, pos);
        const std::string_view window = text.substr(pos, end - pos);
        const bool ok = allAscii(window) ? tokenizeAscii(window, int(pos), sink)
                                         : tokenizeIcu(window, int(pos), sink);
        if (!ok) return false;
        pos = end;
    }
    return true;
}

// UAX #29 as ICU applies it to ASCII: [A-Za-z0-9_] runs join; letter (' .) letter and
// digit (' . , ;) digit join too (ICU's root rules drop UAX #29's colon); a lone
// underscore is no word (two are). tests/store/test_icu_tokenizer.cpp checks this equals ICU's
// result.
bool TextTokenizer::tokenizeAscii(std::string_view s, int base, const TokenSink& sink) {
    const size_t n = s.size();
    std::string& token = impl_->folded;
    for (size_t i = 0; i < n;) {
        if (!isAsciiWord(s[i])) {
            ++i;
            continue;
        }
        const size_t start = i;
        for (;;) {
            while (i < n && isAsciiWord(s[i])) ++i;
            if (i + 1 >= n) break;
            const unsigned char mid = s[i], before = s[i - 1], after = s[i + 1];
            const bool letters =
                isAsciiAlpha(before) && isAsciiAlpha(after) && (mid == '.' || mid == '\'');
            const bool digits = isAsciiDigit(before) && isAsciiDigit(after) &&
                                (mid == '.' || mid == '\'' || mid == ',' || mid == ';');
            if (!letters && !digits) break;
            ++i;
        }
        token.assign(s.data() + start, i - start);
        if (token == "_") continue;
        for (char& c : token) {
            if (c >= 'A' && c <= 'Z') c = char(c + 32);
        }
        if (!emitFolded(token, base + int(start), base + int(i), sink)) return false;
    }
    return true;
}

bool TextTokenizer::tokenizeIcu(std::string_view s, int base, const TokenSink& sink) {
    Impl& m = *impl_;
    if (!m.breaker || !m.nfkcCasefold) return tokenizeAscii(s, base, sink);
    m.text16.clear();
    m.offsets.clear();
    const auto* bytes = reinterpret_cast<const uint8_t*>(s.data());
    const int32_t n = int32_t(s.size());
    for (int32_t i = 0; i < n;) {
        const int32_t start = i;
        UChar32 c;
        U8_NEXT(bytes, i, n, c);
        if (c < 0) c = 0xFFFD;  // invalid UTF-8 never reaches ICU as such
        if (c <= 0xFFFF) {
            m.text16.push_back(UChar(c));
            m.offsets.push_back(start);
        } else {
            m.text16.push_back(U16_LEAD(c));
            m.text16.push_back(U16_TRAIL(c));
            m.offsets.push_back(start);
            m.offsets.push_back(start);
        }
    }
    m.offsets.push_back(n);
    UErrorCode status = U_ZERO_ERROR;
    ubrk_setText(m.breaker, m.text16.data(), int32_t(m.text16.size()), &status);
    if (U_FAILURE(status)) return tokenizeAscii(s, base, sink);
    int32_t start = ubrk_first(m.breaker);
    for (int32_t end = ubrk_next(m.breaker); end != UBRK_DONE;
         start = end, end = ubrk_next(m.breaker)) {
        if (ubrk_getRuleStatus(m.breaker) < UBRK_WORD_NONE_LIMIT) continue;
        if (!m.emitWord(start, end, base, sink)) return false;
    }
    return true;
}

std::vector<std::string> tokenizeToStrings(std::string_view text) {
    TextTokenizer tokenizer;
    std::vector<std::string> out;
    tokenizer.tokenize(text, [&](std::string_view t, int, int) {
        out.emplace_back(t);
        return true;
    });
    return out;
}

PretokenizedText pretokenize(TextTokenizer& tokenizer, std::string_view text) {
    PretokenizedText out;
    out.textSize = text.size();
    out.textHash = XXH3_64bits(text.data(), text.size());
    out.tokens.reserve(text.size() / 6 + 4);
    out.complete = tokenizer.tokenize(text, [&](std::string_view token, int start, int end) {
        PretokenizedText::Token& t = out.tokens.emplace_back();
        t.start = start;
        t.end = end;
        t.foldedSize = uint32_t(token.size());
        if (text.substr(size_t(start), size_t(end - start)) == token) {
            t.folded = PretokenizedText::kSameAsText;
        } else {
            t.folded = uint32_t(out.foldedBytes.size());
            out.foldedBytes.append(token);
        }
        return true;
    });
    return out;
}

namespace {

// The replay armed by ScopedTokenReplay on this thread (the writer's), if any.
thread_local const PretokenizedText* tReplayTokens = nullptr;

}  // namespace

ScopedTokenReplay::ScopedTokenReplay(const PretokenizedText* tokens) : previous_(tReplayTokens) {
    tReplayTokens = tokens;
}

ScopedTokenReplay::~ScopedTokenReplay() {
    tReplayTokens = previous_;
}

// ---- FTS5 glue ---------------------------------------------------------------------

namespace {

// The armed replay, when it was computed from this document text (same size and XXH3-64:
// a few GB/s, far cheaper than tokenizing).
const PretokenizedText* replayFor(int flags, const char* text, int size) {
    const PretokenizedText* tokens = tReplayTokens;
    if (!tokens || !tokens->complete || !(flags & FTS5_TOKENIZE_DOCUMENT)) return nullptr;
    if (tokens->textSize != size_t(size)) return nullptr;
    if (XXH3_64bits(text, size_t(size)) != tokens->textHash) return nullptr;
    return tokens;
}

int replayTokens(const PretokenizedText& tokens, const char* text, void* context,
                 int (*emit)(void*, int, const char*, int, int, int)) {
    for (const PretokenizedText::Token& t : tokens.tokens) {
        const char* bytes = t.folded == PretokenizedText::kSameAsText
                                ? text + t.start
                                : tokens.foldedBytes.data() + t.folded;
        const int rc = emit(context, 0, bytes, int(t.foldedSize), t.start, t.end);
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}

int ftsCreate(void*, const char**, int, Fts5Tokenizer** out) {
    try {
        *out = reinterpret_cast<Fts5Tokenizer*>(new TextTokenizer);
        return SQLITE_OK;
    } catch (const std::bad_alloc&) {
        return SQLITE_NOMEM;
    }
}

void ftsDelete(Fts5Tokenizer* tokenizer) {
    delete reinterpret_cast<TextTokenizer*>(tokenizer);
}

int ftsTokenize(Fts5Tokenizer* tokenizer, void* context, int flags, const char* text, int size,
                int (*emit)(void*, int, const char*, int, int, int)) {
    if (const PretokenizedText* tokens = replayFor(flags, text, size)) {
        return replayTokens(*tokens, text, context, emit);
    }
    int rc = SQLITE_OK;
    try {
        reinterpret_cast<TextTokenizer*>(tokenizer)->tokenize(
            std::string_view(text, size_t(size)), [&](std::string_view token, int start, int end) {
                rc = emit(context, 0, token.data(), int(token.size()), start, end);
                return rc == SQLITE_OK;
            });
    } catch (const std::bad_alloc&) {
        return SQLITE_NOMEM;
    }
    return rc;
}

}  // namespace

Status registerIcuTokenizer(sqlite3* db) {
    fts5_api* api = nullptr;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &stmt, nullptr) != SQLITE_OK) {
        return Status::error(std::string("SQLite has no FTS5: ") + sqlite3_errmsg(db));
    }
    sqlite3_bind_pointer(stmt, 1, &api, "fts5_api_ptr", nullptr);
    sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (!api) return Status::error("SQLite has no FTS5 API");
    fts5_tokenizer tokenizer{ftsCreate, ftsDelete, ftsTokenize};
    const int rc = api->xCreateTokenizer(api, kTokenizerName, nullptr, &tokenizer, nullptr);
    if (rc != SQLITE_OK) return Status::error("cannot register the ICU tokenizer");
    return Status::ok();
}

}  // namespace lectern::store
