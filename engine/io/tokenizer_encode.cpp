// Encoding and decoding with a loaded tokenizer. Encoding runs, in Hugging Face's order:
// added tokens matched in the raw text (those with normalized=false, special ones only
// when asked), then per remaining piece: normalizer, added tokens with normalized=true,
// the split regex, byte-level BPE. Bytes that are not valid UTF-8 skip the normalizer
// and the regex and become their own byte-level token, so decoding restores them.
#include "io/tokenizer_impl.h"
#include "io/utf8.h"

namespace lectern::io {

namespace {

bool isWordChar(char32_t c) {
    return c == '_' || (c < 0x80 && ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) ||
           (c >= '0' && c <= '9') || (c >= 0x80 && !isUnicodeWhiteSpace(c));
}

// The code point ending just before byte i (0 if none or not valid UTF-8).
char32_t codePointBefore(std::string_view s, size_t i) {
    size_t start = i;
    while (start > 0 && i - start < 4) {
        --start;
        if ((uint8_t(s[start]) & 0xc0) != 0x80) break;
    }
    char32_t c = 0;
    const auto* u = reinterpret_cast<const unsigned char*>(s.data());
    return start < i && utf8Decode(u, start, i, &c) == int(i - start) ? c : 0;
}

char32_t codePointAt(std::string_view s, size_t i) {
    char32_t c = 0;
    return i < s.size() &&
                   utf8Decode(reinterpret_cast<const unsigned char*>(s.data()), i, s.size(), &c)
               ? c
               : 0;
}

struct Piece {
    size_t begin, end;
    int32_t addedId;  // -1 for plain text
};

// Splits text on added tokens of one phase, leftmost match first, longest at a position.
std::vector<Piece> splitAdded(const TokenizerImpl& t, std::string_view s, bool normalizedPhase,
                              bool parseSpecial) {
    std::vector<Piece> pieces;
    size_t plainStart = 0;
    for (size_t i = 0; i < s.size();) {
        const AddedToken* hit = nullptr;
        for (uint32_t index : t.addedByFirstByte[uint8_t(s[i])]) {
            const AddedToken& a = t.added[index];
            if (a.normalized != normalizedPhase || (a.special && !parseSpecial)) continue;
            if (s.compare(i, a.content.size(), a.content) != 0) continue;
            const size_t end = i + a.content.size();
            if (a.singleWord &&
                (isWordChar(codePointBefore(s, i)) || isWordChar(codePointAt(s, end))))
                continue;
            hit = &a;
            break;
        }
        if (!hit) {
            ++i;
            continue;
        }
        size_t begin = i, end = i + hit->content.size();
        // lstrip / rstrip: the token swallows the white space beside it.
        while (hit->lstrip && begin > plainStart &&
               isUnicodeWhiteSpace(codePointBefore(s, begin))) {
            const char32_t c = codePointBefore(s, begin);
            begin -= c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
        }
        while (hit->rstrip && end < s.size() && isUnicodeWhiteSpace(codePointAt(s, end))) {
            const char32_t c = codePointAt(s, end);
            end += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
        }
        if (begin > plainStart) pieces.push_back({plainStart, begin, -1});
        pieces.push_back({begin, end, hit->id});
        plainStart = i = end;
    }
    if (plainStart < s.size()) pieces.push_back({plainStart, s.size(), -1});
    return pieces;
}

// Normalized-phase added tokens, then the split regex and BPE, for valid UTF-8 text.
void encodeValid(const TokenizerImpl& t, std::string_view text, BpeWorkspace& ws,
                 std::vector<int32_t>& out) {
    const std::string norm = normalizeText(t.normalizers, text);
    std::vector<std::pair<size_t, size_t>> spans;
    for (const Piece& p : splitAdded(t, norm, true, true)) {
        if (p.addedId >= 0) {
            out.push_back(p.addedId);
            continue;
        }
        std::string_view piece(norm.data() + p.begin, p.end - p.begin);
        std::string prefixed;
        if (t.addPrefixSpace && piece.front() != ' ') {
            prefixed = " " + std::string(piece);
            piece = prefixed;
        }
        spans.clear();
        pretokenSplit(t.split, piece, spans);
        for (const auto& [b, e] : spans) bpeEncodeWord(t, piece.substr(b, e - b), ws, out);
    }
}

// Splits a plain piece into valid UTF-8 runs and single invalid bytes.
void encodePlain(const TokenizerImpl& t, std::string_view s, BpeWorkspace& ws,
                 std::vector<int32_t>& out) {
    const auto* u = reinterpret_cast<const unsigned char*>(s.data());
    size_t runStart = 0;
    for (size_t i = 0; i < s.size();) {
        char32_t c;
        const int len = utf8Decode(u, i, s.size(), &c);
        if (len > 0) {
            i += size_t(len);
            continue;
        }
        if (i > runStart) encodeValid(t, s.substr(runStart, i - runStart), ws, out);
        out.push_back(t.byteToken[u[i]]);
        runStart = ++i;
    }
    if (runStart < s.size()) encodeValid(t, s.substr(runStart), ws, out);
}

}  // namespace

std::vector<int32_t> Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
    const TokenizerImpl& t = *impl_;
    std::vector<int32_t> out;
    BpeWorkspace ws;
    if (options.addSpecialTokens) out = t.prefixIds;
    for (const Piece& p : splitAdded(t, text, false, options.parseSpecialTokens)) {
        if (p.addedId >= 0) {
            out.push_back(p.addedId);
        } else {
            encodePlain(t, text.substr(p.begin, p.end - p.begin), ws, out);
        }
    }
    if (options.addSpecialTokens) out.insert(out.end(), t.suffixIds.begin(), t.suffixIds.end());
    return out;
}

Expected<std::string> Tokenizer::decode(const std::vector<int32_t>& ids, bool skipSpecial) const {
    const TokenizerImpl& t = *impl_;
    std::string out;
    for (int32_t id : ids) {
        if (id < 0 || size_t(id) >= t.idToToken.size()) {
            return Status::error(t.name + ": token id " + std::to_string(id) +
                                 " is outside the vocabulary of " +
                                 std::to_string(t.idToToken.size()));
        }
        if (skipSpecial && t.idIsSpecial[size_t(id)]) continue;
        out += t.idBytes[size_t(id)];
    }
    return out;
}

int32_t Tokenizer::vocabSize() const {
    return int32_t(impl_->idToToken.size());
}

std::optional<int32_t> Tokenizer::tokenId(std::string_view token) const {
    auto it = impl_->addedByContent.find(std::string(token));
    if (it != impl_->addedByContent.end()) return it->second;
    auto v = impl_->vocab.find(std::string(token));
    if (v != impl_->vocab.end()) return v->second;
    return std::nullopt;
}

std::string Tokenizer::tokenText(int32_t id) const {
    return id >= 0 && size_t(id) < impl_->idToToken.size() ? impl_->idToToken[size_t(id)]
                                                           : std::string();
}

bool Tokenizer::isSpecial(int32_t id) const {
    return id >= 0 && size_t(id) < impl_->idIsSpecial.size() && impl_->idIsSpecial[size_t(id)];
}

}  // namespace lectern::io
