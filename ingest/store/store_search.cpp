// Store search: user words to a safe FTS5 query, the scope (a collection or one document),
// and ranked passages with provenance and highlighted snippets.
#include <algorithm>
#include <cctype>
#include <limits>

#include "icu_tokenizer.h"
#include "store.h"

namespace lectern::store {
namespace {

void appendTerm(std::string& out, std::string_view term, bool prefix) {
    if (tokenizeToStrings(term).empty()) return;  // pure punctuation: nothing to match
    if (!out.empty()) out += ' ';
    out += '"';
    for (char c : term) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
    if (prefix) out += '*';
}

}  // namespace

std::string toFtsQuery(std::string_view query) {
    std::string out;
    size_t i = 0;
    while (i < query.size()) {
        const unsigned char c = query[i];
        if (std::isspace(c)) {
            ++i;
            continue;
        }
        if (c == '"') {  // a phrase, up to the closing quote or the end
            const size_t close = query.find('"', i + 1);
            const size_t end = close == std::string_view::npos ? query.size() : close;
            appendTerm(out, query.substr(i + 1, end - i - 1), false);
            i = end + 1;
            continue;
        }
        size_t end = i;
        while (end < query.size() && !std::isspace(static_cast<unsigned char>(query[end]))) ++end;
        std::string_view word = query.substr(i, end - i);
        const bool prefix = word.size() > 1 && word.back() == '*';
        if (prefix) word.remove_suffix(1);
        appendTerm(out, word, prefix);
        i = end;
    }
    return out;
}

// BM25 costs a few microseconds per matching passage (a look-up in FTS5's docsize table
// each), so a word found in every file of a large tree would take a second to rank. The
// matches are therefore ranked in windows of kMaxRankedPassages in index order (oldest
// passages first): the first window, and further ones only while the scope has fewer than
// `limit` hits (a small collection ingested after a large one). Queries more specific than
// that are ranked whole.
constexpr int64_t kMaxRankedPassages = 10000;

// The highest rowid among the first kMaxRankedPassages matches with rowid in [lo, hi], or
// hi when there are fewer.
Expected<int64_t> Store::rankingCutoff(const std::string& match, int64_t lo, int64_t hi) {
    Expected<Stmt> stmt = db_.prepare(
        "SELECT rowid FROM segments_fts WHERE segments_fts MATCH ?1 AND rowid BETWEEN ?3 AND ?4 "
        "ORDER BY rowid LIMIT 1 OFFSET ?2");
    if (!stmt) return stmt.status();
    stmt->bind(1, match).bind(2, kMaxRankedPassages - 1).bind(3, lo).bind(4, hi);
    Expected<bool> row = stmt->step();
    if (!row) return row.status();
    return *row ? stmt->columnInt(0) : hi;
}

// The search scope: one document (its segments' rowid range) or a whole collection.
struct Store::SearchScope {
    int64_t collectionId = 0;
    int64_t documentId = 0;
    int64_t lo = 0;
    int64_t hi = std::numeric_limits<int64_t>::max();
};

Expected<Store::SearchScope> Store::searchScope(const SearchRequest& request) {
    SearchScope scope;
    if (request.documentId != 0) {
        Expected<DocumentInfo> doc = documentById(request.documentId);
        if (!doc) return doc.status();
        if (!request.collection.empty() && doc->collection != request.collection) {
            return Status::error("document " + std::to_string(request.documentId) +
                                 " is not in collection '" + request.collection + "'");
        }
        scope.documentId = doc->id;
        // One content's segments are written by one writer in one go, so a rowid range
        // bounds them and lets FTS5 skip the rest of the index.
        Expected<Stmt> range = db_.prepare(
            "SELECT coalesce(min(id), 1), coalesce(max(id), 0) FROM segments "
            "WHERE content_id = ?1");
        if (!range) return range.status();
        range->bind(1, doc->contentId);
        Expected<bool> row = range->step();
        if (!row) return row.status();
        scope.lo = range->columnInt(0);
        scope.hi = range->columnInt(1);
        return scope;
    }
    Expected<int64_t> collection = findCollection(request.collection);
    if (!collection) return collection.status();
    if (*collection == 0) return Status::error("no collection named '" + request.collection + "'");
    scope.collectionId = *collection;
    return scope;
}

// Collects the hits of one ranked passage: each document of the scope that holds it
// (identical files share one content; search() orders them by path).
Status Store::addPassageHits(Stmt& lookup, int64_t segmentId, double score,
                             std::vector<RankedHit>& hits) {
    lookup.bind(1, segmentId);
    for (;;) {
        Expected<bool> row = lookup.step();
        if (!row) return row.status();
        if (!*row) break;
        RankedHit& ranked = hits.emplace_back();
        ranked.segmentId = segmentId;
        SearchHit& hit = ranked.hit;
        hit.documentId = lookup.columnInt(0);
        hit.path = lookup.columnText(1);
        hit.kind = static_cast<ingest::SegmentKind>(lookup.columnInt(2));
        hit.ordinal = lookup.columnInt(3);
        hit.lineStart = lookup.columnInt(4);
        hit.lineEnd = lookup.columnInt(5);
        hit.label = lookup.columnText(6);
        hit.ocr = lookup.columnInt(7) != 0;
        hit.score = score;
    }
    sqlite3_reset(lookup.handle());  // keeps the scope binding (?2) for the next passage
    return Status::ok();
}

// Ranks the matches with rowid in [lo, hi] from the FTS5 index alone, then looks up the
// segment and document rows (a page read each: a segment row holds its text) only for
// passages in rank order, until `limit` hits and those tied with the last are found.
Status Store::rankWindow(const RankQuery& query, int64_t lo, int64_t hi,
                         std::vector<RankedHit>& found) {
    query.ranked.bind(1, query.match).bind(2, lo).bind(3, hi);
    const size_t limit = query.limit;
    bool full = found.size() >= limit;
    double last = 0;
    for (;;) {
        Expected<bool> row = query.ranked.step();
        if (!row) return row.status();
        if (!*row) break;
        const double score = sqlite3_column_double(query.ranked.handle(), 1);
        if (full && score > last) break;
        if (Status s = addPassageHits(query.lookup, query.ranked.columnInt(0), score, found); !s) {
            return s;
        }
        if (!full && found.size() >= limit) {
            full = true;
            last = score;
        }
    }
    query.ranked.reset();
    return Status::ok();
}

Status Store::addSnippets(const SearchRequest& request, const std::string& match,
                          std::vector<RankedHit>& found) {
    Expected<Stmt> snippet = db_.prepare(
        "SELECT snippet(segments_fts, 0, ?3, ?4, '…', 24) FROM segments_fts "
        "WHERE segments_fts MATCH ?1 AND rowid = ?2");
    if (!snippet) return snippet.status();
    for (RankedHit& shown : found) {
        snippet->bind(1, match)
            .bind(2, shown.segmentId)
            .bind(3, request.markOpen)
            .bind(4, request.markClose);
        Expected<bool> row = snippet->step();
        if (!row) return row.status();
        if (*row) shown.hit.snippet = snippet->columnText(0);
        snippet->reset();
    }
    return Status::ok();
}

// Ranks window after window until the scope has `limit` hits or the matches run out,
// orders the hits by score then path, and builds snippets for the ones shown (SQLite would
// otherwise build a snippet for every match before sorting).
Expected<std::vector<SearchHit>> Store::search(const SearchRequest& request) {
    const std::string match = toFtsQuery(request.query);
    if (match.empty()) return Status::error("the query has no words to search for");
    Expected<SearchScope> scope = searchScope(request);
    if (!scope) return scope.status();
    if (request.limit <= 0) return std::vector<SearchHit>{};
    Expected<Stmt> ranked = db_.prepare(
        "SELECT rowid, bm25(segments_fts) AS score FROM segments_fts "
        "WHERE segments_fts MATCH ?1 AND rowid BETWEEN ?2 AND ?3 ORDER BY score, rowid");
    if (!ranked) return ranked.status();
    const bool oneDocument = scope->documentId != 0;
    // The segment by id, then its documents through the content index: given the choice
    // the planner may walk the collection's (collection_id, path) index instead, which
    // reads every document of the collection per passage.
    Expected<Stmt> lookup = db_.prepare(
        std::string("SELECT d.id, d.path, s.kind, s.ordinal, s.line_start, s.line_end, s.label, "
                    "s.ocr FROM segments s CROSS JOIN documents d INDEXED BY documents_by_content "
                    "ON d.content_id = s.content_id WHERE s.id = ?1 AND ") +
        (oneDocument ? "d.id = ?2 " : "d.collection_id = ?2 ") +
        "AND d.status IN ('ok', 'partial')");
    if (!lookup) return lookup.status();
    lookup->bind(2, oneDocument ? scope->documentId : scope->collectionId);
    const RankQuery query{match, size_t(request.limit), *ranked, *lookup};
    std::vector<RankedHit> found;
    for (int64_t lo = scope->lo; found.size() < query.limit;) {
        Expected<int64_t> cutoff = rankingCutoff(match, lo, scope->hi);
        if (!cutoff) return cutoff.status();
        if (Status s = rankWindow(query, lo, *cutoff, found); !s) return s;
        if (*cutoff >= scope->hi) break;
        lo = *cutoff + 1;
    }
    std::stable_sort(found.begin(), found.end(), [](const RankedHit& a, const RankedHit& b) {
        return a.hit.score != b.hit.score ? a.hit.score < b.hit.score : a.hit.path < b.hit.path;
    });
    if (found.size() > query.limit) found.resize(query.limit);
    if (Status s = addSnippets(request, match, found); !s) return s;
    std::vector<SearchHit> hits;
    hits.reserve(found.size());
    for (RankedHit& shown : found) hits.push_back(std::move(shown.hit));
    return hits;
}

}  // namespace lectern::store
