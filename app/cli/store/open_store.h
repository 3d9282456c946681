// Opens the store named by --store / $LECTERN_STORE / the XDG default for the read-only
// commands (status, search); on failure prints the reason and returns null.
#pragma once

#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "store.h"
#include "store_location.h"

namespace lectern::cli {

inline std::unique_ptr<store::Store> openStoreOrReport(const GlobalOptions& globals) {
    Expected<std::filesystem::path> dir = store::resolveStoreDir(globals.storeDir);
    if (!dir) {
        std::fprintf(stderr, "error: %s\n", dir.error().c_str());
        return nullptr;
    }
    Expected<std::unique_ptr<store::Store>> opened = store::Store::open(*dir, {false, nullptr});
    if (!opened) {
        std::fprintf(stderr, "error: %s\n", opened.error().c_str());
        return nullptr;
    }
    return std::move(opened.value());
}

}  // namespace lectern::cli
