// Byte-level BPE training (tokenizer/bpe_trainer.h). Words (distinct pre-tokens) are kept
// as id sequences with their counts; each round counts adjacent pairs over all words,
// merges the most frequent everywhere, and records the merge. O(merges × symbols): fine
// for the corpora a desktop trains on (megabytes), not for gigabytes.
#include "training/tokenizer/bpe_trainer.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>

namespace lectern::train {
namespace {

// GPT-2's bytes_to_unicode: printable bytes stand for themselves, the rest map to
// U+0100 upwards, so every byte has a visible, non-space character.
std::vector<std::string> byteSpellings() {
    std::vector<std::string> out(256);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
        const int cp = printable ? b : next++;
        std::string s;
        if (cp < 0x80) {
            s += char(cp);
        } else {
            s += char(0xC0 | (cp >> 6));
            s += char(0x80 | (cp & 0x3F));
        }
        out[size_t(b)] = s;
    }
    return out;
}

enum class Cls { Space, Letter, Digit, Other };

Cls classOf(unsigned char c) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')
        return Cls::Space;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80) return Cls::Letter;
    if (c >= '0' && c <= '9') return Cls::Digit;
    return Cls::Other;
}

// Pre-tokens: an optional single leading ' ' then a run of one class; other whitespace
// runs on their own.
void countWords(const std::string& text, std::unordered_map<std::string, int64_t>& counts) {
    size_t i = 0;
    while (i < text.size()) {
        const size_t start = i;
        if (text[i] == ' ' && i + 1 < text.size() &&
            classOf(static_cast<unsigned char>(text[i + 1])) != Cls::Space)
            ++i;
        const Cls c = classOf(static_cast<unsigned char>(text[i]));
        while (i < text.size() && classOf(static_cast<unsigned char>(text[i])) == c) ++i;
        counts[text.substr(start, i - start)] += 1;
    }
}

struct Word {
    std::vector<int32_t> ids;
    int64_t count = 0;
};

}  // namespace

Expected<BpeModel> trainBpe(const std::vector<std::string>& docs, const BpeTrainOptions& o) {
    if (o.vocabSize < 256)
        return Status::error("the vocabulary size must be at least 256 (the byte tokens)");
    std::unordered_map<std::string, int64_t> counts;
    for (const std::string& d : docs) countWords(d, counts);
    std::vector<Word> words;
    words.reserve(counts.size());
    for (const auto& [w, n] : counts) {
        Word x;
        for (unsigned char c : w) x.ids.push_back(int32_t(c));
        x.count = n;
        words.push_back(std::move(x));
    }
    // Fixed order, so the pair counts and ties do not depend on the hash map.
    std::sort(words.begin(), words.end(),
              [](const Word& a, const Word& b) { return a.ids < b.ids; });

    BpeModel m;
    m.tokens = byteSpellings();
    std::unordered_map<std::string, int32_t> idOf;
    for (int32_t i = 0; i < 256; ++i) idOf[m.tokens[size_t(i)]] = i;
    while (int32_t(m.tokens.size()) < o.vocabSize) {
        std::map<std::pair<int32_t, int32_t>, int64_t> pairs;
        for (const Word& w : words)
            for (size_t i = 0; i + 1 < w.ids.size(); ++i)
                pairs[{w.ids[i], w.ids[i + 1]}] += w.count;
        auto best = pairs.end();
        for (auto it = pairs.begin(); it != pairs.end(); ++it)
            if (best == pairs.end() || it->second > best->second)
                best = it;  // first max: smallest pair
        if (best == pairs.end() || best->second < o.minPairCount) break;
        const auto [a, b] = best->first;
        const std::string joined = m.tokens[size_t(a)] + m.tokens[size_t(b)];
        auto found = idOf.find(joined);
        int32_t id = 0;
        if (found != idOf.end()) {
            id = found->second;  // the same string from another merge order: one token
        } else {
            id = int32_t(m.tokens.size());
            m.tokens.push_back(joined);
            idOf[joined] = id;
        }
        m.merges.emplace_back(m.tokens[size_t(a)], m.tokens[size_t(b)]);
        for (Word& w : words) {
            size_t out = 0;
            for (size_t i = 0; i < w.ids.size(); ++i) {
                if (i + 1 < w.ids.size() && w.ids[i] == a && w.ids[i + 1] == b) {
                    w.ids[out++] = id;
                    ++i;
                } else {
                    w.ids[out++] = w.ids[i];
                }
            }
            w.ids.resize(out);
        }
    }
    return m;
}

std::string bpeTokenizerJson(const BpeModel& m) {
    using json = nlohmann::ordered_json;
    json vocab = json::object();
    for (size_t i = 0; i < m.tokens.size(); ++i) vocab[m.tokens[i]] = int64_t(i);
    json merges = json::array();
    for (const auto& [a, b] : m.merges) merges.push_back(json::array({a, b}));
    const json byteLevel{{"type", "ByteLevel"},
                         {"add_prefix_space", false},
                         {"trim_offsets", true},
                         {"use_regex", true}};
    json j{{"version", "1.0"},
           {"truncation", nullptr},
           {"padding", nullptr},
           {"added_tokens", json::array()},
           {"normalizer", nullptr},
           {"pre_tokenizer", byteLevel},
           {"post_processor", nullptr},
           {"decoder", byteLevel},
           {"model",
            {{"type", "BPE"},
             {"dropout", nullptr},
             {"unk_token", nullptr},
             {"continuing_subword_prefix", nullptr},
             {"end_of_word_suffix", nullptr},
             {"fuse_unk", false},
             {"byte_fallback", false},
             {"ignore_merges", false},
             {"vocab", vocab},
             {"merges", merges}}}};
    return j.dump(1) + "\n";
}

}  // namespace lectern::train
