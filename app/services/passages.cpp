// Supporting passages (app/services/passages.h): per-word FTS5 searches merged by passage.
#include "passages.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <tuple>

#include "io/utf8.h"

namespace lectern::services {
namespace {

const std::set<std::string_view>& stopWords() {
    static const std::set<std::string_view> words = {
        "the",      "and",      "for",   "are",   "but",    "not",   "you",    "all",   "any",
        "can",      "had",      "her",   "was",   "one",    "our",   "out",    "has",   "have",
        "him",      "his",      "how",   "its",   "may",    "who",   "did",    "does",  "yes",
        "she",      "this",     "that",  "with",  "from",   "they",  "will",   "would", "there",
        "their",    "what",     "when",  "where", "which",  "while", "about",  "into",  "than",
        "them",     "then",     "these", "those", "been",   "were",  "being",  "also",  "some",
        "such",     "only",     "other", "could", "should", "after", "before", "over",  "under",
        "between",  "each",     "more",  "most",  "very",   "your",  "said",   "says",  "answer",
        "question", "document", "why",   "whom",  "whose",  "here",  "just",   "like",  "many",
        "much",     "must",     "shall", "upon",  "via"};
    return words;
}

using PassageKey = std::tuple<int64_t, int, int64_t, int64_t, int64_t>;

}  // namespace

std::vector<std::string> salientWords(std::string_view text, size_t maxWords) {
    std::vector<std::string> out;
    std::set<std::string> seen;
    size_t i = 0;
    while (i < text.size() && out.size() < maxWords) {
        // Words: runs of letters, digits, '_' and any non-ASCII byte (kept whole, so UTF-8
        // words survive; the store's ICU tokenizer does the real segmentation).
        auto inWord = [&](size_t k) {
            const unsigned char c = text[k];
            return c >= 0x80 || std::isalnum(c) || c == '_';
        };
        while (i < text.size() && !inWord(i)) ++i;
        size_t end = i;
        while (end < text.size() && inWord(end)) ++end;
        std::string w(text.substr(i, end - i));
        i = end;
        for (char& c : w) c = char(std::tolower(static_cast<unsigned char>(c)));
        if (w.size() < 3 || stopWords().count(w) || !seen.insert(w).second) continue;
        out.push_back(std::move(w));
    }
    return out;
}

std::string passageLocation(ingest::SegmentKind kind, int64_t ordinal, int64_t lineStart,
                            int64_t lineEnd, const std::string& label) {
    using ingest::SegmentKind;
    if (kind == SegmentKind::Page) return "page " + std::to_string(ordinal);
    std::string where;
    if (lineStart > 0)
        where = lineEnd > lineStart
                    ? "lines " + std::to_string(lineStart) + "-" + std::to_string(lineEnd)
                    : "line " + std::to_string(lineStart);
    if (kind != SegmentKind::Lines && !label.empty() && label != where)
        where = where.empty() ? label : label + ", " + where;
    return where;
}

Expected<std::vector<Passage>> passagesFind(store::Store& store, const PassageRequest& r) {
    std::vector<std::string> words = salientWords(r.question);
    for (std::string& w : salientWords(r.answer))
        if (std::find(words.begin(), words.end(), w) == words.end()) words.push_back(w);
    std::map<PassageKey, Passage> byKey;
    std::map<PassageKey, double> bestHit;  // the snippet comes from the strongest word
    for (const std::string& word : words) {
        // A model's answer may hold bytes that make no searchable word (symbols, broken
        // UTF-8): such words are skipped rather than failing the answer.
        if (!io::utf8Valid(word.data(), word.size()) || store::toFtsQuery(word).empty()) continue;
        store::SearchRequest q;
        q.collection = r.collection;
        q.documentId = r.documentId;
        q.query = word;
        // Hits past page N are dropped below, so an as-of-page search looks further down
        // the ranking for enough that remain.
        q.limit = r.maxPage > 0 ? std::max(r.limit * 4, 200) : std::max(r.limit * 4, 20);
        q.markOpen = r.markOpen;
        q.markClose = r.markClose;
        auto hits = store.search(q);
        if (!hits) return hits.status();
        for (const store::SearchHit& h : *hits) {
            if (r.maxPage > 0 && (h.kind != ingest::SegmentKind::Page || h.ordinal > r.maxPage))
                continue;
            const PassageKey key{h.documentId, int(h.kind), h.ordinal, h.lineStart, h.lineEnd};
            Passage& p = byKey[key];
            if (p.matched.empty()) {
                p.documentId = h.documentId;
                p.path = h.path;
                p.kind = h.kind;
                p.page = h.kind == ingest::SegmentKind::Page ? h.ordinal : 0;
                p.lineStart = h.lineStart;
                p.lineEnd = h.lineEnd;
                p.label = h.label;
                p.location = passageLocation(h.kind, h.ordinal, h.lineStart, h.lineEnd, h.label);
            }
            p.matched.push_back(word);
            p.score += -h.score;
            auto best = bestHit.find(key);
            if (best == bestHit.end() || -h.score > best->second) {
                bestHit[key] = -h.score;
                p.snippet = h.snippet;
            }
        }
    }
    std::vector<Passage> out;
    for (auto& [key, p] : byKey) out.push_back(std::move(p));
    std::stable_sort(out.begin(), out.end(), [](const Passage& a, const Passage& b) {
        if (a.matched.size() != b.matched.size()) return a.matched.size() > b.matched.size();
        if (a.score != b.score) return a.score > b.score;
        return std::tie(a.path, a.lineStart) < std::tie(b.path, b.lineStart);
    });
    if (out.size() > size_t(r.limit)) out.resize(size_t(std::max(r.limit, 0)));
    return out;
}

}  // namespace lectern::services
