// Store queries: ranked search over the FTS5 index, the per-collection status report,
// and the integrity check used by tests and `status`.
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

// BM25 costs a few microseconds per matching passage, so a word found in every file of a
// large tree would take seconds to rank. Ranking therefore looks at the first
// kMaxRankedPassages matches in index order (oldest passages first); queries more specific
// than that are ranked whole.
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

// Three steps: bound the candidates, rank without snippets (SQLite would otherwise build
// a snippet for every match before sorting), then build snippets for the passages shown.
Expected<std::vector<SearchHit>> Store::search(const SearchRequest& request) {
    const std::string match = toFtsQuery(request.query);
    if (match.empty()) return Status::error("the query has no words to search for");
    Expected<SearchScope> scope = searchScope(request);
    if (!scope) return scope.status();
    Expected<int64_t> cutoff = rankingCutoff(match, scope->lo, scope->hi);
    if (!cutoff) return cutoff.status();
    const bool oneDocument = scope->documentId != 0;
    Expected<Stmt> stmt = db_.prepare(
        std::string("SELECT d.path, s.kind, s.ordinal, s.line_start, s.line_end, s.label, s.ocr, "
                    "s.id, bm25(segments_fts) AS score, d.id "
                    // CROSS JOIN keeps the FTS match as the outer loop: the planner otherwise
                    // may start from the collection's documents and probe the index once per
                    // segment.
                    "FROM segments_fts CROSS JOIN segments s ON s.id = segments_fts.rowid "
                    "CROSS JOIN documents d ON d.content_id = s.content_id "
                    "WHERE segments_fts MATCH ?1 AND segments_fts.rowid BETWEEN ?5 AND ?4 AND ") +
        (oneDocument ? "d.id = ?2 " : "d.collection_id = ?2 ") +
        "AND d.status IN ('ok', 'partial') ORDER BY score, d.path LIMIT ?3");
    if (!stmt) return stmt.status();
    stmt->bind(1, match).bind(2, oneDocument ? scope->documentId : scope->collectionId);
    stmt->bind(3, int64_t(request.limit)).bind(4, *cutoff).bind(5, scope->lo);
    std::vector<SearchHit> hits;
    std::vector<int64_t> segmentIds;
    for (;;) {
        Expected<bool> row = stmt->step();
        if (!row) return row.status();
        if (!*row) break;
        SearchHit hit;
        hit.path = stmt->columnText(0);
        hit.kind = static_cast<ingest::SegmentKind>(stmt->columnInt(1));
        hit.ordinal = stmt->columnInt(2);
        hit.lineStart = stmt->columnInt(3);
        hit.lineEnd = stmt->columnInt(4);
        hit.label = stmt->columnText(5);
        hit.ocr = stmt->columnInt(6) != 0;
        segmentIds.push_back(stmt->columnInt(7));
        hit.score = sqlite3_column_double(stmt->handle(), 8);
        hit.documentId = stmt->columnInt(9);
        hits.push_back(std::move(hit));
    }
    Expected<Stmt> snippet = db_.prepare(
        "SELECT snippet(segments_fts, 0, ?3, ?4, '…', 24) FROM segments_fts "
        "WHERE segments_fts MATCH ?1 AND rowid = ?2");
    if (!snippet) return snippet.status();
    for (size_t i = 0; i < hits.size(); ++i) {
        snippet->bind(1, match)
            .bind(2, segmentIds[i])
            .bind(3, request.markOpen)
            .bind(4, request.markClose);
        Expected<bool> row = snippet->step();
        if (!row) return row.status();
        if (*row) hits[i].snippet = snippet->columnText(0);
        snippet->reset();
    }
    return hits;
}

Expected<std::vector<CollectionReport>> Store::report(std::string_view collection) {
    const std::string filter = collection.empty() ? "" : " WHERE c.name = ?1";
    Expected<Stmt> counts = db_.prepare(
        "SELECT c.name, d.status, count(d.id), coalesce(sum(d.size), 0), "
        "coalesce(sum(d.replaced_bytes), 0), coalesce(sum(ct.segment_count), 0) "
        "FROM collections c LEFT JOIN documents d ON d.collection_id = c.id "
        "LEFT JOIN contents ct ON ct.id = d.content_id" +
        filter + " GROUP BY c.name, d.status ORDER BY c.name");
    if (!counts) return counts.status();
    if (!collection.empty()) counts->bind(1, collection);
    std::vector<CollectionReport> reports;
    for (;;) {
        Expected<bool> row = counts->step();
        if (!row) return row.status();
        if (!*row) break;
        if (reports.empty() || reports.back().name != counts->columnText(0)) {
            reports.push_back({});
            reports.back().name = counts->columnText(0);
        }
        CollectionReport& r = reports.back();
        if (counts->columnIsNull(1)) continue;  // a collection without documents
        const std::string status = counts->columnText(1);
        r.byStatus[status] = counts->columnInt(2);
        if (status == kStatusRemoved) continue;
        r.documents += counts->columnInt(2);
        r.bytes += counts->columnInt(3);
        r.replacedBytes += counts->columnInt(4);
        r.segments += counts->columnInt(5);
    }
    Expected<Stmt> issues = db_.prepare(
        "SELECT c.name, d.path, d.status, d.error FROM documents d "
        "JOIN collections c ON c.id = d.collection_id" +
        (collection.empty() ? std::string(" WHERE") : filter + " AND") +
        " d.status NOT IN ('ok', 'removed') ORDER BY c.name, d.path");
    if (!issues) return issues.status();
    if (!collection.empty()) issues->bind(1, collection);
    for (;;) {
        Expected<bool> row = issues->step();
        if (!row) return row.status();
        if (!*row) break;
        for (CollectionReport& r : reports) {
            if (r.name == issues->columnText(0)) {
                r.issues.push_back(
                    {issues->columnText(1), issues->columnText(2), issues->columnText(3)});
            }
        }
    }
    return reports;
}

Expected<std::string> Store::integrityCheck() {
    std::string problems;
    for (const char* sql : {"PRAGMA integrity_check", "PRAGMA foreign_key_check"}) {
        Expected<Stmt> stmt = db_.prepare(sql);
        if (!stmt) return stmt.status();
        for (;;) {
            Expected<bool> row = stmt->step();
            if (!row) return row.status();
            if (!*row) break;
            const std::string line = stmt->columnText(0);
            if (line != "ok") problems += std::string(sql) + ": " + line + "\n";
        }
    }
    Status fts = db_.exec("INSERT INTO segments_fts(segments_fts) VALUES ('integrity-check')");
    if (!fts) problems += "FTS5 integrity-check: " + fts.message() + "\n";
    return problems.empty() ? std::string("ok") : problems;
}

}  // namespace lectern::store
