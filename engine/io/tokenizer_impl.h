// The loaded form of a tokenizer.json (private to engine/io): everything the encoder and
// decoder need, validated at load so that encoding can no longer fail.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "io/tokenizer_json.h"

namespace lectern::io {

enum class SplitPattern { None, Gpt2, Llama3 };
enum class NormalizerOp { NFC, NFD, NFKC, NFKD, Lowercase };

struct AddedToken {
    std::string content;
    int32_t id = 0;
    bool special = false;
    bool normalized = false;  // matched in the normalized text rather than the raw text
    bool lstrip = false, rstrip = false, singleWord = false;
};

struct MergeRule {
    int32_t rank;
    int32_t result;
};

struct TokenizerImpl {
    std::string name;
    std::vector<NormalizerOp> normalizers;
    SplitPattern split = SplitPattern::None;
    bool addPrefixSpace = false;
    bool ignoreMerges = false;  // Llama-3: a pre-token found whole in the vocab is one token
    std::unordered_map<std::string, int32_t> vocab;  // model vocabulary (byte-level strings)
    std::unordered_map<std::string, int32_t> addedByContent;
    std::vector<std::string> idToToken;  // every id, model vocab and added tokens
    std::vector<uint8_t> idIsSpecial;
    std::vector<uint8_t> idIsAdded;
    std::unordered_map<uint64_t, MergeRule> merges;  // (left id << 32 | right id) -> rule
    std::array<int32_t, 256> byteToken{};            // id of each byte's byte-level character
    std::vector<AddedToken> added;
    std::array<std::vector<uint32_t>, 256> addedByFirstByte;  // indices, longest content first
    std::vector<int32_t> prefixIds, suffixIds;                // TemplateProcessing "single"
    std::vector<std::string> idBytes;  // what decode() writes for each id (ByteLevel decoder)
};

// The GPT-2 byte <-> character map of the ByteLevel pre-tokenizer and decoder.
char32_t byteLevelChar(uint8_t byte);
bool byteLevelByte(char32_t c, uint8_t* byte);  // false for a character outside the map
std::string byteLevelString(std::string_view bytes);
// The ByteLevel decoder for one token: each character back to its byte; a token with a
// character outside the map (an added token such as "<|endoftext|>" or "  ") is its text.
std::string byteLevelDecode(std::string_view token);

struct BpeSymbol {
    int32_t id;
    int32_t prev, next;  // -1 at the ends; a merged-away symbol has id -1
};

struct BpeCandidate {
    int32_t rank, pos, left, right, result;
    bool operator>(const BpeCandidate& o) const {
        return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
};

// Scratch space for one encode() call: buffers reused across pre-tokens, and a cache of
// words already encoded (running text repeats its words, so most pre-tokens hit it).
struct BpeWorkspace {
    std::vector<BpeSymbol> syms;
    std::vector<BpeCandidate> heap;
    std::unordered_map<std::string, std::pair<uint32_t, uint32_t>> cache;  // -> range in ids
    std::vector<int32_t> cachedIds;
};

// BPE of one pre-token given as raw bytes; appends ids.
void bpeEncodeWord(const TokenizerImpl& t, std::string_view bytes, BpeWorkspace& ws,
                   std::vector<int32_t>& out);

// Splits valid UTF-8 text into pre-tokens with the model's split regex; appends [begin, end)
// byte ranges covering the text.
void pretokenSplit(SplitPattern pattern, std::string_view text,
                   std::vector<std::pair<size_t, size_t>>& out);
bool isUnicodeWhiteSpace(char32_t c);

// Applies the normalizers to valid UTF-8 text.
std::string normalizeText(const std::vector<NormalizerOp>& ops, std::string_view text);

}  // namespace lectern::io
