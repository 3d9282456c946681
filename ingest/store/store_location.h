// Where the store lives: --store DIR, else $LECTERN_STORE, else the XDG data directory
// ($XDG_DATA_HOME/lectern, default ~/.local/share/lectern).
#pragma once

#include <filesystem>
#include <string>

#include "lectern/status.h"

namespace lectern::store {

Expected<std::filesystem::path> resolveStoreDir(const std::string& cliStoreDir);

// The database file inside a store directory.
std::filesystem::path storeDatabasePath(const std::filesystem::path& storeDir);

}  // namespace lectern::store
