// Store location resolution; see store_location.h.
#include "store_location.h"

#include <cstdlib>

namespace lectern::store {

Expected<std::filesystem::path> resolveStoreDir(const std::string& cliStoreDir) {
    if (!cliStoreDir.empty()) return std::filesystem::path(cliStoreDir);
    if (const char* env = std::getenv("LECTERN_STORE"); env && *env) {
        return std::filesystem::path(env);
    }
    // XDG: a relative XDG_DATA_HOME is invalid and must be ignored.
    if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg == '/') {
        return std::filesystem::path(xdg) / "lectern";
    }
    if (const char* home = std::getenv("HOME"); home && *home) {
        return std::filesystem::path(home) / ".local" / "share" / "lectern";
    }
    return Status::error(
        "no store location: HOME is not set; pass --store DIR or set LECTERN_STORE");
}

std::filesystem::path storeDatabasePath(const std::filesystem::path& storeDir) {
    return storeDir / "lectern.db";
}

}  // namespace lectern::store
