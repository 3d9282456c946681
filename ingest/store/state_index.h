// The store's index of saved model states (table model_states, schema migration 3): one
// row per state file under <store>/states/, for a document or a whole collection, made by
// one model (Model::identityHash as 16 hex digits). A row is either the head (the state at
// the end of what was read) or a snapshot taken at a page or file boundary. The files are
// the truth for the numbers; the index says which file belongs to what and when it was
// last used, so the cache can evict and `lectern-cli state` can list and collect garbage.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lectern/status.h"
#include "sqlite_db.h"

namespace lectern::store {

enum class StateOwner { Document, Collection };
const char* stateOwnerName(StateOwner owner);  // "document" / "collection"

struct StateRow {
    int64_t id = 0;  // 0 before insert
    StateOwner owner = StateOwner::Document;
    int64_t ownerId = 0;  // documents.id or collections.id
    std::string modelId;  // 16 hex digits of Model::identityHash
    bool snapshot = false;
    int64_t tokenCount = 0;  // tokens the state holds (its position)
    int64_t pieceCount = 0;  // text pieces (segments, file headers) begun when it was taken
    int64_t page = 0;        // last page fully read (documents with pages), else 0
    int64_t segment = 0;     // pieces fully read
    std::string prefixHash;  // hash chain over the pieces it read (see document_text.h)
    std::string sourceHash;  // fingerprint of the whole source when it was written
    std::string path;        // relative to the store directory: states/<model>/<file>
    int64_t bytes = 0;       // file size
    int64_t createdAt = 0;   // unix seconds
    int64_t lastUsed = 0;    // unix seconds
};

// Rows are read and written through the store's connection (Store::database()).
class StateIndex {
public:
    explicit StateIndex(Db& db) : db_(&db) {}

    // Inserts, or replaces the row with the same owner, model and token count.
    Expected<int64_t> put(const StateRow& row);
    Status remove(int64_t rowId);
    Status touch(int64_t rowId, int64_t unixSeconds);
    // One owner's rows for one model, most tokens first.
    Expected<std::vector<StateRow>> forOwner(StateOwner owner, int64_t ownerId,
                                             std::string_view modelId);
    // Every row (all models), oldest use first.
    Expected<std::vector<StateRow>> all();
    // Display names: a document's path or a collection's name ("" when gone).
    Expected<std::string> ownerName(StateOwner owner, int64_t ownerId);

private:
    Db* db_;
};

}  // namespace lectern::store
