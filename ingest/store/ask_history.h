// The ask history (tables ask_history and ask_history_passages, schema migration 4): every
// question asked of a collection or of one of its documents, with its answer, the model that
// answered, where the state came from, the timings and the passages shown with it. The ask
// panel lists it per collection or document across restarts and can clear it. Read and
// written through the store's connection (Store::database()), like state_index.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lectern/status.h"
#include "sqlite_db.h"

namespace lectern::store {

struct AskPassageRef {
    int64_t documentId = 0;
    std::string path, location;  // location as shown: "page 3", "lines 10-14"
    int64_t page = 0, lineStart = 0, lineEnd = 0;
    std::string snippet;
};

struct AskRecord {
    int64_t id = 0;  // 0 before add
    int64_t collectionId = 0;
    int64_t documentId = 0;  // 0: asked of the whole collection
    int64_t asOfPage = 0;    // > 0: asked of the state after page N
    std::string question, answer;
    std::string stopReason;          // "stop string", "max tokens", "cancelled"…
    std::string modelId, modelName;  // Model::identityHash (hex) and its folder name
    std::string stateOrigin;         // resident | restored | rebuilt
    int64_t stateTokens = 0, answerTokens = 0;
    double firstTokenSeconds = 0, tokensPerSecond = 0, totalSeconds = 0;
    int64_t askedAt = 0;  // unix seconds
    std::vector<AskPassageRef> passages;
};

// Which records list() and clear() take within a collection.
struct AskScope {
    int64_t collectionId = 0;
    // -1: every question of the collection (whole-collection and per-document ones);
    // 0: the whole-collection questions only; > 0: this document's questions only.
    int64_t documentId = -1;
};

class AskHistory {
public:
    explicit AskHistory(Db& db) : db_(&db) {}

    // Adds a record and its passages in one transaction; returns its id. The collection
    // (and document, if given) must exist.
    Expected<int64_t> add(const AskRecord& record);
    // Newest first, at most `limit` records, with their passages.
    Expected<std::vector<AskRecord>> list(const AskScope& scope, int limit = 200);
    // Deletes the scope's records (and their passages); returns how many.
    Expected<int64_t> clear(const AskScope& scope);
    Status remove(int64_t recordId);

private:
    Db* db_;
};

}  // namespace lectern::store
