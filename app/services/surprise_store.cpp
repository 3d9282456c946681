// surprise_runs / surprise_spans (app/services/surprise_store.h).
#include "surprise_store.h"

#include <chrono>

namespace lectern::services {
namespace {

int64_t unixNow() {
    using namespace std::chrono;
    return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

// Stmt binds integers and text; the two REAL columns go through the C API.
void bindDouble(store::Stmt& s, int index, double v) {
    sqlite3_bind_double(s.handle(), index, v);
}

SurpriseUnit unitFromName(const std::string& n) {
    return n == "page"       ? SurpriseUnit::Page
           : n == "sentence" ? SurpriseUnit::Sentence
                             : SurpriseUnit::Line;
}

}  // namespace

Expected<int64_t> surpriseSave(store::Db& db, int64_t documentId, const std::string& modelId,
                               const SurpriseMap& map) {
    store::Transaction tx(db);
    if (Status s = tx.begin(); !s) return s;
    auto del = db.prepare("DELETE FROM surprise_runs WHERE document_id = ?1");
    if (!del) return del.status();
    if (Status s = del->bind(1, documentId).run(); !s) return s;
    auto run = db.prepare(
        "INSERT INTO surprise_runs(document_id, model_id, token_count, mean_bits, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!run) return run.status();
    run->bind(1, documentId).bind(2, modelId).bind(3, map.tokenCount).bind(5, unixNow());
    bindDouble(*run, 4, map.meanBits);
    if (Status s = run->run(); !s) return s;
    const int64_t runId = db.lastInsertId();
    auto span = db.prepare(
        "INSERT INTO surprise_spans(run_id, unit, ordinal, page, line_start, line_end, "
        "byte_start, byte_end, tokens, mean_bits, max_bits) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    if (!span) return span.status();
    for (const SurpriseSpan& x : map.spans) {
        span->bind(1, runId)
            .bind(2, std::string_view(surpriseUnitName(x.unit)))
            .bind(3, x.ordinal)
            .bind(4, x.page)
            .bind(5, x.lineStart)
            .bind(6, x.lineEnd)
            .bind(7, x.byteStart)
            .bind(8, x.byteEnd)
            .bind(9, x.tokens);
        bindDouble(*span, 10, x.meanBits);
        bindDouble(*span, 11, x.maxBits);
        if (Status s = span->run(); !s) return s;
    }
    if (Status s = tx.commit(); !s) return s;
    return runId;
}

Expected<std::optional<SurpriseRun>> surpriseFind(store::Db& db, int64_t documentId,
                                                  const std::string& modelId) {
    auto q = db.prepare(
        "SELECT id, token_count, mean_bits, created_at FROM surprise_runs "
        "WHERE document_id = ?1 AND model_id = ?2");
    if (!q) return q.status();
    q->bind(1, documentId).bind(2, modelId);
    auto row = q->step();
    if (!row) return row.status();
    if (!*row) return std::optional<SurpriseRun>{};
    SurpriseRun r;
    r.id = q->columnInt(0);
    r.documentId = documentId;
    r.modelId = modelId;
    r.tokenCount = q->columnInt(1);
    r.meanBits = sqlite3_column_double(q->handle(), 2);
    r.createdAt = q->columnInt(3);
    return std::optional<SurpriseRun>(r);
}

Expected<std::vector<SurpriseSpan>> surpriseSpans(store::Db& db, int64_t runId, SurpriseUnit unit,
                                                  int top, int64_t minTokens) {
    std::string sql =
        "SELECT unit, ordinal, page, line_start, line_end, byte_start, byte_end, tokens, "
        "mean_bits, max_bits FROM surprise_spans WHERE run_id = ?1 AND unit = ?2 "
        "AND tokens >= ?3 ";
    sql += top < 0 ? "ORDER BY ordinal" : "ORDER BY mean_bits DESC, tokens DESC LIMIT ?4";
    auto q = db.prepare(sql);
    if (!q) return q.status();
    q->bind(1, runId).bind(2, std::string_view(surpriseUnitName(unit))).bind(3, minTokens);
    if (top >= 0) q->bind(4, int64_t(top));
    std::vector<SurpriseSpan> out;
    for (;;) {
        auto row = q->step();
        if (!row) return row.status();
        if (!*row) break;
        SurpriseSpan s;
        s.unit = unitFromName(q->columnText(0));
        s.ordinal = q->columnInt(1);
        s.page = q->columnInt(2);
        s.lineStart = q->columnInt(3);
        s.lineEnd = q->columnInt(4);
        s.byteStart = q->columnInt(5);
        s.byteEnd = q->columnInt(6);
        s.tokens = q->columnInt(7);
        s.meanBits = sqlite3_column_double(q->handle(), 8);
        s.maxBits = sqlite3_column_double(q->handle(), 9);
        out.push_back(s);
    }
    return out;
}

}  // namespace lectern::services
