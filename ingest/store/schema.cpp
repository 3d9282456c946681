// Schema migrations, oldest first. Never edit a shipped migration: add the next one.
//
// Layout: collections hold documents (one row per path, with status and error); a
// document points at a `contents` row keyed by the file's content hash and extractor, so
// identical files share one copy of their segments; segments carry provenance (page,
// line range, record row, label, OCR flag) and are indexed by the FTS5 table
// segments_fts (external content, tokenizer "lectern"). Contents are written "pending"
// while a document streams in and become "complete" in the same transaction that points
// the document at them, which is what makes a replacement atomic.
#include "schema.h"

#include <string>

namespace lectern::store {
namespace {

const char* const kMigration1 = R"sql(
CREATE TABLE collections(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL);
CREATE TABLE contents(
  id INTEGER PRIMARY KEY,
  hash TEXT NOT NULL,
  kind TEXT NOT NULL,
  state TEXT NOT NULL CHECK(state IN ('pending', 'complete')),
  segment_count INTEGER NOT NULL DEFAULT 0,
  text_bytes INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX contents_by_hash ON contents(hash, kind) WHERE state = 'complete';
CREATE TABLE documents(
  id INTEGER PRIMARY KEY,
  collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  path TEXT NOT NULL,
  kind TEXT NOT NULL DEFAULT '',
  size INTEGER NOT NULL DEFAULT 0,
  mtime_ns INTEGER NOT NULL DEFAULT 0,
  content_hash TEXT NOT NULL DEFAULT '',
  content_id INTEGER REFERENCES contents(id),
  status TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  page_count INTEGER NOT NULL DEFAULT 0,
  ingested_at INTEGER NOT NULL,
  UNIQUE(collection_id, path));
CREATE INDEX documents_by_content ON documents(content_id);
CREATE TABLE segments(
  id INTEGER PRIMARY KEY,
  content_id INTEGER NOT NULL REFERENCES contents(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  ordinal INTEGER NOT NULL,
  line_start INTEGER NOT NULL,
  line_end INTEGER NOT NULL,
  label TEXT NOT NULL,
  ocr INTEGER NOT NULL DEFAULT 0,
  text TEXT NOT NULL);
CREATE INDEX segments_by_content ON segments(content_id, seq);
CREATE VIRTUAL TABLE segments_fts USING fts5(
  text, content = 'segments', content_rowid = 'id', tokenize = 'lectern');
CREATE TRIGGER segments_ai AFTER INSERT ON segments BEGIN
  INSERT INTO segments_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER segments_ad AFTER DELETE ON segments BEGIN
  INSERT INTO segments_fts(segments_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER segments_au AFTER UPDATE OF text ON segments BEGIN
  INSERT INTO segments_fts(segments_fts, rowid, text) VALUES ('delete', old.id, old.text);
  INSERT INTO segments_fts(rowid, text) VALUES (new.id, new.text);
END;
)sql";

// Version 2: invalid-byte accounting and extractor metadata per document, and the table a
// later issue fills with saved model states (one per document and model).
const char* const kMigration2 = R"sql(
ALTER TABLE documents ADD COLUMN replaced_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE documents ADD COLUMN meta TEXT NOT NULL DEFAULT '{}';
CREATE TABLE model_states(
  id INTEGER PRIMARY KEY,
  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  model_id TEXT NOT NULL,
  token_count INTEGER NOT NULL DEFAULT 0,
  state_path TEXT NOT NULL,
  checksum TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  UNIQUE(document_id, model_id));
)sql";

// Version 3 (issue 7): model_states grows into the state cache's index (state_index.h):
// states of documents and of whole collections, heads and snapshots (several rows per
// owner and model, keyed by token count), with what the cache needs to reuse or evict
// them. SQLite cannot change a table's constraints, so the table is rebuilt; version 2
// rows carry no prefix hash and are simply never reused (their states get rebuilt).
// Also the surprise map's tables (per-token surprisal aggregated per line, sentence, page).
const char* const kMigration3 = R"sql(
CREATE TABLE model_states_v3(
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL CHECK(kind IN ('document', 'collection')),
  owner_id INTEGER NOT NULL,
  document_id INTEGER REFERENCES documents(id) ON DELETE CASCADE,
  collection_id INTEGER REFERENCES collections(id) ON DELETE CASCADE,
  model_id TEXT NOT NULL,
  snapshot INTEGER NOT NULL DEFAULT 0,
  token_count INTEGER NOT NULL DEFAULT 0,
  piece_count INTEGER NOT NULL DEFAULT 0,
  page INTEGER NOT NULL DEFAULT 0,
  segment INTEGER NOT NULL DEFAULT 0,
  prefix_hash TEXT NOT NULL DEFAULT '',
  source_hash TEXT NOT NULL DEFAULT '',
  state_path TEXT NOT NULL,
  checksum TEXT NOT NULL DEFAULT '',
  bytes INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  last_used INTEGER NOT NULL DEFAULT 0,
  CHECK((kind = 'document') = (document_id IS NOT NULL)),
  CHECK((kind = 'collection') = (collection_id IS NOT NULL)),
  UNIQUE(kind, owner_id, model_id, token_count));
INSERT INTO model_states_v3(id, kind, owner_id, document_id, model_id, token_count, state_path,
  checksum, created_at, last_used)
  SELECT id, 'document', document_id, document_id, model_id, token_count, state_path, checksum,
         created_at, created_at FROM model_states;
DROP TABLE model_states;
ALTER TABLE model_states_v3 RENAME TO model_states;
CREATE INDEX model_states_by_document ON model_states(document_id);
CREATE INDEX model_states_by_collection ON model_states(collection_id);
CREATE TABLE surprise_runs(id INTEGER PRIMARY KEY,
  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  model_id TEXT NOT NULL, token_count INTEGER NOT NULL, mean_bits REAL NOT NULL,
  created_at INTEGER NOT NULL, UNIQUE(document_id, model_id));
CREATE TABLE surprise_spans(run_id INTEGER NOT NULL REFERENCES surprise_runs(id) ON DELETE CASCADE,
  unit TEXT NOT NULL CHECK(unit IN ('line','sentence','page')), ordinal INTEGER NOT NULL,
  page INTEGER NOT NULL DEFAULT 0, line_start INTEGER NOT NULL DEFAULT 0,
  line_end INTEGER NOT NULL DEFAULT 0, byte_start INTEGER NOT NULL, byte_end INTEGER NOT NULL,
  tokens INTEGER NOT NULL, mean_bits REAL NOT NULL, max_bits REAL NOT NULL,
  PRIMARY KEY(run_id, unit, ordinal));
)sql";

// Version 4 (issue 8): the ask panel's history, per collection and document: each question
// with its answer, the model that answered (identity and name), where the state came from,
// the timings, and the passages shown with it (their references, so a click still opens the
// page or line). Deleting a collection or document deletes its history with it.
const char* const kMigration4 = R"sql(
CREATE TABLE ask_history(
  id INTEGER PRIMARY KEY,
  collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  document_id INTEGER REFERENCES documents(id) ON DELETE CASCADE,
  as_of_page INTEGER NOT NULL DEFAULT 0,
  question TEXT NOT NULL,
  answer TEXT NOT NULL,
  stop_reason TEXT NOT NULL DEFAULT '',
  model_id TEXT NOT NULL DEFAULT '',
  model_name TEXT NOT NULL DEFAULT '',
  state_origin TEXT NOT NULL DEFAULT '',
  state_tokens INTEGER NOT NULL DEFAULT 0,
  answer_tokens INTEGER NOT NULL DEFAULT 0,
  first_token_s REAL NOT NULL DEFAULT 0,
  tokens_per_s REAL NOT NULL DEFAULT 0,
  total_s REAL NOT NULL DEFAULT 0,
  asked_at INTEGER NOT NULL);
CREATE INDEX ask_history_by_collection ON ask_history(collection_id, id);
CREATE INDEX ask_history_by_document ON ask_history(document_id);
CREATE TABLE ask_history_passages(
  history_id INTEGER NOT NULL REFERENCES ask_history(id) ON DELETE CASCADE,
  ordinal INTEGER NOT NULL,
  document_id INTEGER NOT NULL DEFAULT 0,
  path TEXT NOT NULL,
  location TEXT NOT NULL DEFAULT '',
  page INTEGER NOT NULL DEFAULT 0,
  line_start INTEGER NOT NULL DEFAULT 0,
  line_end INTEGER NOT NULL DEFAULT 0,
  snippet TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(history_id, ordinal));
)sql";

const char* const kMigrations[] = {kMigration1, kMigration2, kMigration3, kMigration4};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSchemaVersion);

}  // namespace

Expected<int> schemaVersion(Db& db) {
    Expected<Stmt> stmt = db.prepare("PRAGMA user_version");
    if (!stmt) return stmt.status();
    Expected<bool> row = stmt->step();
    if (!row) return row.status();
    return *row ? int(stmt->columnInt(0)) : 0;
}

Status migrate(Db& db, int target) {
    Expected<int> version = schemaVersion(db);
    if (!version) return version.status();
    if (*version > kSchemaVersion) {
        return Status::error("store " + db.path() + " has schema version " +
                             std::to_string(*version) + ", newer than this Lectern (" +
                             std::to_string(kSchemaVersion) + "); upgrade Lectern");
    }
    for (int v = *version; v < target; ++v) {
        Transaction tx(db);
        if (Status s = tx.begin(); !s) return s;
        // Another process may have migrated while we waited for the write lock.
        Expected<int> now = schemaVersion(db);
        if (!now) return now.status();
        if (*now > v) continue;
        if (Status s = db.exec(kMigrations[v]); !s) {
            return s.withContext("migrating to schema version " + std::to_string(v + 1));
        }
        const std::string bump = "PRAGMA user_version = " + std::to_string(v + 1);
        if (Status s = db.exec(bump.c_str()); !s) return s;
        if (Status s = tx.commit(); !s) return s;
    }
    return Status::ok();
}

}  // namespace lectern::store
