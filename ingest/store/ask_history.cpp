// AskHistory: the rows of ask_history and ask_history_passages (schema migration 4).
#include "ask_history.h"

#include <map>

namespace lectern::store {
namespace {

constexpr const char* kColumns =
    "id, collection_id, coalesce(document_id, 0), as_of_page, question, answer, stop_reason, "
    "model_id, model_name, state_origin, state_tokens, answer_tokens, first_token_s, "
    "tokens_per_s, total_s, asked_at";

AskRecord readRecord(const Stmt& s) {
    AskRecord r;
    r.id = s.columnInt(0);
    r.collectionId = s.columnInt(1);
    r.documentId = s.columnInt(2);
    r.asOfPage = s.columnInt(3);
    r.question = s.columnText(4);
    r.answer = s.columnText(5);
    r.stopReason = s.columnText(6);
    r.modelId = s.columnText(7);
    r.modelName = s.columnText(8);
    r.stateOrigin = s.columnText(9);
    r.stateTokens = s.columnInt(10);
    r.answerTokens = s.columnInt(11);
    r.firstTokenSeconds = sqlite3_column_double(s.handle(), 12);
    r.tokensPerSecond = sqlite3_column_double(s.handle(), 13);
    r.totalSeconds = sqlite3_column_double(s.handle(), 14);
    r.askedAt = s.columnInt(15);
    return r;
}

// The WHERE clause of a scope, with ?1 the collection and ?2 the document.
std::string scopeWhere(const AskScope& scope) {
    if (scope.documentId < 0) return "collection_id = ?1";
    if (scope.documentId == 0) return "collection_id = ?1 AND document_id IS NULL";
    return "collection_id = ?1 AND document_id = ?2";
}

void bindScope(Stmt& s, const AskScope& scope) {
    s.bind(1, scope.collectionId);
    if (scope.documentId > 0) s.bind(2, scope.documentId);
}

Status bindDouble(Stmt& s, int index, double value) {
    const int rc = sqlite3_bind_double(s.handle(), index, value);
    return rc == SQLITE_OK ? Status::ok() : Status::error("ask history: cannot bind a number");
}

Status addPassages(Db& db, int64_t historyId, const std::vector<AskPassageRef>& passages) {
    Expected<Stmt> s = db.prepare(
        "INSERT INTO ask_history_passages(history_id, ordinal, document_id, path, location, "
        "page, line_start, line_end, snippet) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    if (!s) return s.status();
    for (size_t i = 0; i < passages.size(); ++i) {
        const AskPassageRef& p = passages[i];
        s->reset();
        s->bind(1, historyId).bind(2, int64_t(i)).bind(3, p.documentId).bind(4, p.path);
        s->bind(5, p.location).bind(6, p.page).bind(7, p.lineStart).bind(8, p.lineEnd);
        s->bind(9, p.snippet);
        if (Status st = s->run(); !st) return st;
    }
    return Status::ok();
}

}  // namespace

Expected<int64_t> AskHistory::add(const AskRecord& r) {
    Transaction tx(*db_);
    if (Status st = tx.begin(); !st) return st;
    Expected<Stmt> s = db_->prepare(
        "INSERT INTO ask_history(collection_id, document_id, as_of_page, question, answer, "
        "stop_reason, model_id, model_name, state_origin, state_tokens, answer_tokens, "
        "first_token_s, tokens_per_s, total_s, asked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
        "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) RETURNING id");
    if (!s) return s.status();
    s->bind(1, r.collectionId);
    if (r.documentId > 0)
        s->bind(2, r.documentId);
    else
        s->bindNull(2);
    s->bind(3, r.asOfPage).bind(4, r.question).bind(5, r.answer).bind(6, r.stopReason);
    s->bind(7, r.modelId).bind(8, r.modelName).bind(9, r.stateOrigin).bind(10, r.stateTokens);
    s->bind(11, r.answerTokens);
    for (auto [index, value] : {std::pair{12, r.firstTokenSeconds},
                                std::pair{13, r.tokensPerSecond}, std::pair{14, r.totalSeconds}})
        if (Status st = bindDouble(*s, index, value); !st) return st;
    s->bind(15, r.askedAt);
    Expected<bool> row = s->step();
    if (!row) return row.status().withContext("saving the ask history");
    if (!*row) return Status::error("ask history: insert returned no id");
    const int64_t id = s->columnInt(0);
    s->reset();
    if (Status st = addPassages(*db_, id, r.passages); !st)
        return st.withContext("saving the ask history's passages");
    if (Status st = tx.commit(); !st) return st;
    return id;
}

Expected<std::vector<AskRecord>> AskHistory::list(const AskScope& scope, int limit) {
    Expected<Stmt> s = db_->prepare(std::string("SELECT ") + kColumns + " FROM ask_history WHERE " +
                                    scopeWhere(scope) + " ORDER BY id DESC LIMIT ?3");
    if (!s) return s.status();
    bindScope(*s, scope);
    s->bind(3, int64_t(limit));
    std::vector<AskRecord> out;
    std::map<int64_t, size_t> byId;
    for (;;) {
        Expected<bool> row = s->step();
        if (!row) return row.status();
        if (!*row) break;
        byId[s->columnInt(0)] = out.size();
        out.push_back(readRecord(*s));
    }
    if (out.empty()) return out;
    // The passages of the listed records, in their order.
    Expected<Stmt> p = db_->prepare(
        "SELECT history_id, document_id, path, location, page, line_start, line_end, snippet "
        "FROM ask_history_passages WHERE history_id >= ?1 AND history_id <= ?2 "
        "ORDER BY history_id, ordinal");
    if (!p) return p.status();
    p->bind(1, out.back().id).bind(2, out.front().id);
    for (;;) {
        Expected<bool> row = p->step();
        if (!row) return row.status();
        if (!*row) break;
        auto it = byId.find(p->columnInt(0));
        if (it == byId.end()) continue;  // another scope's record in the id range
        AskPassageRef ref;
        ref.documentId = p->columnInt(1);
        ref.path = p->columnText(2);
        ref.location = p->columnText(3);
        ref.page = p->columnInt(4);
        ref.lineStart = p->columnInt(5);
        ref.lineEnd = p->columnInt(6);
        ref.snippet = p->columnText(7);
        out[it->second].passages.push_back(std::move(ref));
    }
    return out;
}

Expected<int64_t> AskHistory::clear(const AskScope& scope) {
    Expected<Stmt> s = db_->prepare("DELETE FROM ask_history WHERE " + scopeWhere(scope));
    if (!s) return s.status();
    bindScope(*s, scope);
    if (Status st = s->run(); !st) return st.withContext("clearing the ask history");
    return int64_t(sqlite3_changes(db_->handle()));
}

Status AskHistory::remove(int64_t recordId) {
    Expected<Stmt> s = db_->prepare("DELETE FROM ask_history WHERE id = ?1");
    if (!s) return s.status();
    return s->bind(1, recordId).run();
}

}  // namespace lectern::store
