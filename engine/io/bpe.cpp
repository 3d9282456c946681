// Byte-level BPE: the GPT-2 byte-to-character map, and the merge loop. Merges are applied
// lowest rank first (ties: leftmost) through a heap over a linked list of symbols, so a
// pre-token of n bytes costs O(n log n) even when it is one megabyte of letters.
#include <queue>

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

struct Symbol {
    int32_t id;
    int32_t prev, next;  // -1 at the ends; a merged-away symbol has id -1
};

struct Candidate {
    int32_t rank, pos, left, right, result;
    bool operator>(const Candidate& o) const {
        return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
};

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

void bpeEncodeWord(const TokenizerImpl& t, std::string_view bytes, std::vector<int32_t>& out) {
    if (bytes.empty()) return;
    if (t.ignoreMerges || bytes.size() == 1) {
        auto it = t.vocab.find(byteLevelString(bytes));
        if (it != t.vocab.end()) {
            out.push_back(it->second);
            return;
        }
    }
    std::vector<Symbol> syms(bytes.size());
    for (size_t i = 0; i < bytes.size(); ++i) {
        syms[i] = {t.byteToken[uint8_t(bytes[i])], int32_t(i) - 1,
                   i + 1 < bytes.size() ? int32_t(i + 1) : -1};
    }
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
    auto consider = [&](int32_t pos) {
        if (pos < 0 || syms[size_t(pos)].next < 0) return;
        const int32_t left = syms[size_t(pos)].id, right = syms[size_t(syms[size_t(pos)].next)].id;
        auto it = t.merges.find(uint64_t(uint32_t(left)) << 32 | uint32_t(right));
        if (it != t.merges.end()) heap.push({it->second.rank, pos, left, right, it->second.result});
    };
    for (size_t i = 0; i + 1 < syms.size(); ++i) consider(int32_t(i));
    while (!heap.empty()) {
        const Candidate c = heap.top();
        heap.pop();
        Symbol& s = syms[size_t(c.pos)];
        if (s.id != c.left || s.next < 0 || syms[size_t(s.next)].id != c.right) continue;  // stale
        Symbol& gone = syms[size_t(s.next)];
        s.id = c.result;
        s.next = gone.next;
        if (gone.next >= 0) syms[size_t(gone.next)].prev = c.pos;
        gone.id = -1;
        consider(s.prev);
        consider(c.pos);
    }
    for (int32_t i = 0; i >= 0; i = syms[size_t(i)].next) out.push_back(syms[size_t(i)].id);
}

}  // namespace lectern::io
