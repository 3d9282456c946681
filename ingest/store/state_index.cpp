// StateIndex: the rows of model_states (schema migration 3) through the store's connection.
#include "state_index.h"

namespace lectern::store {
namespace {

constexpr const char* kColumns =
    "id, kind, owner_id, model_id, snapshot, token_count, piece_count, page, segment, "
    "prefix_hash, source_hash, state_path, bytes, created_at, last_used";

StateRow readRow(const Stmt& s) {
    StateRow r;
    r.id = s.columnInt(0);
    r.owner = s.columnText(1) == "collection" ? StateOwner::Collection : StateOwner::Document;
    r.ownerId = s.columnInt(2);
    r.modelId = s.columnText(3);
    r.snapshot = s.columnInt(4) != 0;
    r.tokenCount = s.columnInt(5);
    r.pieceCount = s.columnInt(6);
    r.page = s.columnInt(7);
    r.segment = s.columnInt(8);
    r.prefixHash = s.columnText(9);
    r.sourceHash = s.columnText(10);
    r.path = s.columnText(11);
    r.bytes = s.columnInt(12);
    r.createdAt = s.columnInt(13);
    r.lastUsed = s.columnInt(14);
    return r;
}

Expected<std::vector<StateRow>> readRows(Stmt& s) {
    std::vector<StateRow> rows;
    for (;;) {
        Expected<bool> row = s.step();
        if (!row) return row.status();
        if (!*row) break;
        rows.push_back(readRow(s));
    }
    return rows;
}

}  // namespace

const char* stateOwnerName(StateOwner owner) {
    return owner == StateOwner::Collection ? "collection" : "document";
}

Expected<int64_t> StateIndex::put(const StateRow& r) {
    Expected<Stmt> s = db_->prepare(
        "INSERT INTO model_states(kind, owner_id, document_id, collection_id, model_id, "
        "snapshot, token_count, piece_count, page, segment, prefix_hash, source_hash, "
        "state_path, bytes, created_at, last_used) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
        "?10, ?11, ?12, ?13, ?14, ?15, ?16) ON CONFLICT(kind, owner_id, model_id, token_count) "
        "DO UPDATE SET snapshot = excluded.snapshot, piece_count = excluded.piece_count, "
        "page = excluded.page, segment = excluded.segment, prefix_hash = excluded.prefix_hash, "
        "source_hash = excluded.source_hash, state_path = excluded.state_path, "
        "bytes = excluded.bytes, created_at = excluded.created_at, last_used = "
        "excluded.last_used RETURNING id");
    if (!s) return s.status();
    const bool doc = r.owner == StateOwner::Document;
    s->bind(1, stateOwnerName(r.owner)).bind(2, r.ownerId);
    if (doc) {
        s->bind(3, r.ownerId).bindNull(4);
    } else {
        s->bindNull(3).bind(4, r.ownerId);
    }
    s->bind(5, r.modelId).bind(6, int64_t(r.snapshot)).bind(7, r.tokenCount);
    s->bind(8, r.pieceCount).bind(9, r.page).bind(10, r.segment).bind(11, r.prefixHash);
    s->bind(12, r.sourceHash).bind(13, r.path).bind(14, r.bytes).bind(15, r.createdAt);
    s->bind(16, r.lastUsed);
    Expected<bool> row = s->step();
    if (!row) return row.status();
    if (!*row) return Status::error("state index: insert of " + r.path + " returned no id");
    return s->columnInt(0);
}

Status StateIndex::remove(int64_t rowId) {
    Expected<Stmt> s = db_->prepare("DELETE FROM model_states WHERE id = ?1");
    if (!s) return s.status();
    return s->bind(1, rowId).run();
}

Status StateIndex::touch(int64_t rowId, int64_t unixSeconds) {
    Expected<Stmt> s = db_->prepare("UPDATE model_states SET last_used = ?2 WHERE id = ?1");
    if (!s) return s.status();
    return s->bind(1, rowId).bind(2, unixSeconds).run();
}

Expected<std::vector<StateRow>> StateIndex::forOwner(StateOwner owner, int64_t ownerId,
                                                     std::string_view modelId) {
    Expected<Stmt> s = db_->prepare(std::string("SELECT ") + kColumns +
                                    " FROM model_states WHERE kind = ?1 AND owner_id = ?2 AND "
                                    "model_id = ?3 ORDER BY token_count DESC");
    if (!s) return s.status();
    s->bind(1, stateOwnerName(owner)).bind(2, ownerId).bind(3, modelId);
    return readRows(*s);
}

Expected<std::vector<StateRow>> StateIndex::all() {
    Expected<Stmt> s = db_->prepare(std::string("SELECT ") + kColumns +
                                    " FROM model_states ORDER BY last_used, id");
    if (!s) return s.status();
    return readRows(*s);
}

Expected<std::string> StateIndex::ownerName(StateOwner owner, int64_t ownerId) {
    Expected<Stmt> s =
        db_->prepare(owner == StateOwner::Document ? "SELECT path FROM documents WHERE id = ?1"
                                                   : "SELECT name FROM collections WHERE id = ?1");
    if (!s) return s.status();
    s->bind(1, ownerId);
    Expected<bool> row = s->step();
    if (!row) return row.status();
    return *row ? s->columnText(0) : std::string();
}

}  // namespace lectern::store
