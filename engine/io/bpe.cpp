// Byte-level BPE: the GPT-2 byte-to-character map, and the merge loop. Merges are applied
// lowest rank first (ties: leftmost) through a heap over a linked list of symbols, so a
// pre-token of n bytes costs O(n log n) even when it is one megabyte of letters.
#include <algorithm>
#include <functional>

#include "io/tokenizer_impl.h"
#include "io/utf8.h"

namespace lectern::io {

namespace {

struct ByteMaps {
    std::array<char32_t, 256> toChar{};
    std::unordered_map<char32_t, uint8_t> toByte;
    ByteMaps() {
        // Printable Latin-1 bytes map to themselves; the rest to U+0100 onwards, in order.
        char32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
            toChar[size_t(b)] = printable ? char32_t(b) : next++;
            toByte[toChar[size_t(b)]] = uint8_t(b);
        }
    }
};

const ByteMaps& byteMaps() {
    static const ByteMaps maps;
    return maps;
}

}  // namespace

char32_t byteLevelChar(uint8_t byte) {
    return byteMaps().toChar[byte];
}

bool byteLevelByte(char32_t c, uint8_t* byte) {
    const auto& m = byteMaps().toByte;
    auto it = m.find(c);
    if (it == m.end()) return false;
    *byte = it->second;
    return true;
}

std::string byteLevelString(std::string_view bytes) {
    std::string s;
    s.reserve(bytes.size() * 2);
    for (char b : bytes) utf8Append(s, byteLevelChar(uint8_t(b)));
    return s;
}

std::string byteLevelDecode(std::string_view token) {
    std::string bytes;
    const auto* u = reinterpret_cast<const unsigned char*>(token.data());
    for (size_t i = 0; i < token.size();) {
        char32_t c;
        uint8_t b;
        const int len = utf8Decode(u, i, token.size(), &c);
        if (len == 0 || !byteLevelByte(c, &b)) return std::string(token);
        bytes.push_back(char(b));
        i += size_t(len);
    }
    return bytes;
}

namespace {

constexpr size_t kCacheWords = 1 << 16;
constexpr size_t kCacheWordBytes = 64;  // longer words are rare and not worth keeping

void bpeMerge(const TokenizerImpl& t, std::string_view bytes, BpeWorkspace& ws,
              std::vector<int32_t>& out) {
    auto& syms = ws.syms;
    auto& heap = ws.heap;
    syms.resize(bytes.size());
    heap.clear();
    for (size_t i = 0; i < bytes.size(); ++i) {
        syms[i] = {t.byteToken[uint8_t(bytes[i])], int32_t(i) - 1,
                   i + 1 < bytes.size() ? int32_t(i + 1) : -1};
    }
    const auto greater = std::greater<BpeCandidate>();
    auto consider = [&](int32_t pos) {
        if (pos < 0 || syms[size_t(pos)].next < 0) return;
        const int32_t left = syms[size_t(pos)].id, right = syms[size_t(syms[size_t(pos)].next)].id;
        auto it = t.merges.find(uint64_t(uint32_t(left)) << 32 | uint32_t(right));
        if (it == t.merges.end()) return;
        heap.push_back({it->second.rank, pos, left, right, it->second.result});
        std::push_heap(heap.begin(), heap.end(), greater);
    };
    for (size_t i = 0; i + 1 < syms.size(); ++i) consider(int32_t(i));
    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), greater);
        const BpeCandidate c = heap.back();
        heap.pop_back();
        BpeSymbol& s = syms[size_t(c.pos)];
        if (s.id != c.left || s.next < 0 || syms[size_t(s.next)].id != c.right) continue;  // stale
        BpeSymbol& gone = syms[size_t(s.next)];
        s.id = c.result;
        s.next = gone.next;
        if (gone.next >= 0) syms[size_t(gone.next)].prev = c.pos;
        gone.id = -1;
        consider(s.prev);
        consider(c.pos);
    }
    for (int32_t i = 0; i >= 0; i = syms[size_t(i)].next) out.push_back(syms[size_t(i)].id);
}

}  // namespace

void bpeEncodeWord(const TokenizerImpl& t, std::string_view bytes, BpeWorkspace& ws,
                   std::vector<int32_t>& out) {
    if (bytes.empty()) return;
    if (bytes.size() == 1) {
        out.push_back(t.byteToken[uint8_t(bytes[0])]);
        return;
    }
    if (t.ignoreMerges) {
        auto it = t.vocab.find(byteLevelString(bytes));
        if (it != t.vocab.end()) {
            out.push_back(it->second);
            return;
        }
    }
    const bool cacheable = bytes.size() <= kCacheWordBytes;
    if (cacheable) {
        auto hit = ws.cache.find(std::string(bytes));
        if (hit != ws.cache.end()) {
            const auto [begin, end] = hit->second;
            out.insert(out.end(), ws.cachedIds.begin() + begin, ws.cachedIds.begin() + end);
            return;
        }
    }
    const size_t first = out.size();
    bpeMerge(t, bytes, ws, out);
    if (cacheable && ws.cache.size() < kCacheWords) {
        const auto begin = uint32_t(ws.cachedIds.size());
        ws.cachedIds.insert(ws.cachedIds.end(), out.begin() + ptrdiff_t(first), out.end());
        ws.cache.emplace(std::string(bytes), std::make_pair(begin, uint32_t(ws.cachedIds.size())));
    }
}

}  // namespace lectern::io
