// The store's schema and its migrations. The version lives in PRAGMA user_version; each
// migration runs in its own transaction, so a store is always at some whole version.
#pragma once

#include "lectern/status.h"
#include "sqlite_db.h"

namespace lectern::store {

inline constexpr int kSchemaVersion = 4;

// Brings `db` from its current version up to `target` (kSchemaVersion unless a test wants
// an older store). Refuses a store written by a newer Lectern.
Status migrate(Db& db, int target = kSchemaVersion);

Expected<int> schemaVersion(Db& db);

}  // namespace lectern::store
