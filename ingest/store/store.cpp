// Store: opening, collections, and the writes the ingest pipeline makes. Queries (search,
// status, integrity) are in store_query.cpp.
#include "store.h"

#include <chrono>
#include <system_error>

#include "schema.h"
#include "store_location.h"

namespace lectern::store {
namespace {

int64_t nowSeconds() {
    using namespace std::chrono;
    return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

Expected<std::unique_ptr<Store>> Store::open(const std::filesystem::path& dir,
                                             const OpenOptions& options) {
    std::error_code ec;
    if (options.create) {
        std::filesystem::create_directories(dir, ec);
        if (ec)
            return Status::error("cannot create store directory " + dir.string() + ": " +
                                 ec.message());
    } else if (!std::filesystem::exists(storeDatabasePath(dir), ec)) {
        return Status::error("no store at " + dir.string() + " (run `lectern-cli ingest` first)");
    }
    std::unique_ptr<Store> store(new Store);
    store->dir_ = dir;
    Expected<Db> db = Db::open(storeDatabasePath(dir), options.create, options.vfs);
    if (!db) return db.status();
    store->db_ = std::move(*db);
    if (Status s = migrate(store->db_); !s) return s;
    if (Status s = store->prepareStatements(); !s) return s;
    return store;
}

Status Store::prepareStatements() {
    struct Item {
        Stmt* stmt;
        const char* sql;
    };
    const Item items[] = {
        {&insertSegment_,
         "INSERT INTO segments(content_id, seq, kind, ordinal, line_start, line_end, label, ocr, "
         "text) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"},
        {&insertContent_, "INSERT INTO contents(hash, kind, state) VALUES (?1, ?2, 'pending')"},
        {&findContent_,
         "SELECT id FROM contents WHERE hash = ?1 AND kind = ?2 AND state = 'complete'"},
        {&completeContent_,
         "UPDATE contents SET state = 'complete', segment_count = ?2, text_bytes = ?3 WHERE id = "
         "?1"},
        {&documentByPath_,
         "SELECT id, content_id FROM documents WHERE collection_id = ?1 AND path = ?2"},
        {&upsertDocument_,
         "INSERT INTO documents(collection_id, path, kind, size, mtime_ns, content_hash, "
         "content_id, status, error, page_count, ingested_at, replaced_bytes, meta) "
         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
         "ON CONFLICT(collection_id, path) DO UPDATE SET kind = excluded.kind, "
         "size = excluded.size, mtime_ns = excluded.mtime_ns, "
         "content_hash = excluded.content_hash, content_id = excluded.content_id, "
         "status = excluded.status, error = excluded.error, page_count = excluded.page_count, "
         "ingested_at = excluded.ingested_at, replaced_bytes = excluded.replaced_bytes, "
         "meta = excluded.meta"},
        {&contentUsers_, "SELECT count(*) FROM documents WHERE content_id = ?1"},
        {&deleteContent_, "DELETE FROM contents WHERE id = ?1"},
    };
    for (const Item& item : items) {
        Expected<Stmt> stmt = db_.prepare(item.sql);
        if (!stmt) return stmt.status();
        *item.stmt = std::move(*stmt);
    }
    return Status::ok();
}

Expected<int64_t> Store::ensureCollection(std::string_view name) {
    Expected<int64_t> found = findCollection(name);
    if (!found || *found != 0) return found;
    Expected<Stmt> insert =
        db_.prepare("INSERT OR IGNORE INTO collections(name, created_at) VALUES (?1, ?2)");
    if (!insert) return insert.status();
    insert->bind(1, name).bind(2, nowSeconds());
    if (Status s = insert->run(); !s) return s;
    return findCollection(name);
}

Expected<int64_t> Store::findCollection(std::string_view name) {
    Expected<Stmt> stmt = db_.prepare("SELECT id FROM collections WHERE name = ?1");
    if (!stmt) return stmt.status();
    stmt->bind(1, name);
    Expected<bool> row = stmt->step();
    if (!row) return row.status();
    return *row ? stmt->columnInt(0) : int64_t(0);
}

Expected<std::vector<std::string>> Store::collectionNames() {
    Expected<Stmt> stmt = db_.prepare("SELECT name FROM collections ORDER BY name");
    if (!stmt) return stmt.status();
    std::vector<std::string> names;
    for (;;) {
        Expected<bool> row = stmt->step();
        if (!row) return row.status();
        if (!*row) break;
        names.push_back(stmt->columnText(0));
    }
    return names;
}

Expected<std::map<std::string, KnownDocument>> Store::knownDocuments(int64_t collectionId) {
    Expected<Stmt> stmt = db_.prepare(
        "SELECT path, id, size, mtime_ns, content_hash, kind, status FROM documents "
        "WHERE collection_id = ?1");
    if (!stmt) return stmt.status();
    stmt->bind(1, collectionId);
    std::map<std::string, KnownDocument> known;
    for (;;) {
        Expected<bool> row = stmt->step();
        if (!row) return row.status();
        if (!*row) break;
        KnownDocument& doc = known[stmt->columnText(0)];
        doc.id = stmt->columnInt(1);
        doc.size = stmt->columnInt(2);
        doc.mtimeNs = stmt->columnInt(3);
        doc.hash = stmt->columnText(4);
        doc.kind = stmt->columnText(5);
        doc.status = stmt->columnText(6);
    }
    return known;
}

Expected<int64_t> Store::findContent(std::string_view hash, std::string_view kind) {
    findContent_.bind(1, hash).bind(2, kind);
    Expected<bool> row = findContent_.step();
    const int64_t id = row && *row ? findContent_.columnInt(0) : 0;
    findContent_.reset();
    if (!row) return row.status();
    return id;
}

Expected<int64_t> Store::contentSegmentCount(int64_t contentId) {
    Expected<Stmt> stmt = db_.prepare("SELECT segment_count FROM contents WHERE id = ?1");
    if (!stmt) return stmt.status();
    stmt->bind(1, contentId);
    Expected<bool> row = stmt->step();
    if (!row) return row.status();
    return *row ? stmt->columnInt(0) : int64_t(0);
}

Status Store::begin() {
    return tx_.begin();
}
Status Store::commit() {
    return tx_.commit();
}
void Store::rollback() {
    tx_.rollback();
}

Expected<int64_t> Store::createPendingContent(std::string_view hash, std::string_view kind) {
    insertContent_.bind(1, hash).bind(2, kind);
    if (Status s = insertContent_.run(); !s) return s;
    return db_.lastInsertId();
}

Status Store::appendSegment(int64_t contentId, int64_t seq, const ingest::Segment& segment,
                            const PretokenizedText* tokens) {
    const ScopedTokenReplay replay(tokens);
    insertSegment_.bind(1, contentId)
        .bind(2, seq)
        .bind(3, int64_t(segment.kind))
        .bind(4, segment.ordinal)
        .bind(5, segment.lineStart)
        .bind(6, segment.lineEnd)
        .bind(7, segment.label)
        .bind(8, int64_t(segment.ocr ? 1 : 0))
        .bind(9, segment.text);
    return insertSegment_.run();
}

Expected<int64_t> Store::completeContent(int64_t contentId, int64_t segmentCount,
                                         int64_t textBytes) {
    Expected<Stmt> info = db_.prepare("SELECT hash, kind FROM contents WHERE id = ?1");
    if (!info) return info.status();
    info->bind(1, contentId);
    Expected<bool> row = info->step();
    if (!row) return row.status();
    if (!*row) return Status::error("store: content " + std::to_string(contentId) + " vanished");
    Expected<int64_t> existing = findContent(info->columnText(0), info->columnText(1));
    if (!existing) return existing.status();
    if (*existing != 0) {  // an identical file finished first: share its segments
        if (Status s = dropContent(contentId); !s) return s;
        return *existing;
    }
    completeContent_.bind(1, contentId).bind(2, segmentCount).bind(3, textBytes);
    if (Status s = completeContent_.run(); !s) return s;
    return contentId;
}

Status Store::dropContent(int64_t contentId) {
    deleteContent_.bind(1, contentId);
    return deleteContent_.run();
}

Status Store::dropIfUnused(int64_t contentId) {
    contentUsers_.bind(1, contentId);
    Expected<bool> row = contentUsers_.step();
    const int64_t users = row && *row ? contentUsers_.columnInt(0) : 0;
    contentUsers_.reset();
    if (!row) return row.status();
    return users == 0 ? dropContent(contentId) : Status::ok();
}

Status Store::putDocument(const DocumentWrite& doc) {
    documentByPath_.bind(1, doc.collectionId).bind(2, doc.path);
    Expected<bool> row = documentByPath_.step();
    const int64_t oldContent = row && *row ? documentByPath_.columnInt(1) : 0;
    documentByPath_.reset();
    if (!row) return row.status();
    upsertDocument_.bind(1, doc.collectionId)
        .bind(2, doc.path)
        .bind(3, doc.kind)
        .bind(4, doc.size)
        .bind(5, doc.mtimeNs)
        .bind(6, doc.hash);
    if (doc.contentId != 0) {
        upsertDocument_.bind(7, doc.contentId);
    } else {
        upsertDocument_.bindNull(7);
    }
    upsertDocument_.bind(8, doc.status)
        .bind(9, doc.error)
        .bind(10, doc.pageCount)
        .bind(11, nowSeconds())
        .bind(12, doc.replacedBytes)
        .bind(13, doc.metaJson);
    if (Status s = upsertDocument_.run(); !s) return s;
    if (oldContent != 0 && oldContent != doc.contentId) return dropIfUnused(oldContent);
    return Status::ok();
}

Status Store::touchDocument(int64_t documentId, int64_t size, int64_t mtimeNs) {
    Expected<Stmt> stmt =
        db_.prepare("UPDATE documents SET size = ?2, mtime_ns = ?3 WHERE id = ?1");
    if (!stmt) return stmt.status();
    stmt->bind(1, documentId).bind(2, size).bind(3, mtimeNs);
    return stmt->run();
}

Status Store::markRemoved(int64_t documentId) {
    Expected<Stmt> find = db_.prepare("SELECT content_id FROM documents WHERE id = ?1");
    if (!find) return find.status();
    find->bind(1, documentId);
    Expected<bool> row = find->step();
    if (!row) return row.status();
    const int64_t oldContent = *row && !find->columnIsNull(0) ? find->columnInt(0) : 0;
    Expected<Stmt> update = db_.prepare(
        "UPDATE documents SET status = 'removed', error = '', content_id = NULL WHERE id = ?1");
    if (!update) return update.status();
    update->bind(1, documentId);
    if (Status s = update->run(); !s) return s;
    return oldContent != 0 ? dropIfUnused(oldContent) : Status::ok();
}

Status Store::collectGarbage() {
    Transaction tx(db_);
    if (Status s = tx.begin(); !s) return s;
    Status s = db_.exec(
        "DELETE FROM contents WHERE state = 'pending' OR id NOT IN "
        "(SELECT content_id FROM documents WHERE content_id IS NOT NULL)");
    if (!s) return s;
    return tx.commit();
}

}  // namespace lectern::store
