// Store queries: the per-collection status report and the integrity check used by tests
// and `status`. Search is in store_search.cpp.
#include "store.h"

namespace lectern::store {

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
