// `lectern-cli train --collection NAME`: the engine-only train command reads a store
// collection through this hook, which app/cli/store/train_collection_source.cpp sets when
// lectern-cli is built with ingest (the store); without it the option says so.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "lectern/status.h"

namespace lectern::cli {

// (store folder as given by --store, possibly empty; collection name) → each document's
// full text, in the store's order.
using CollectionLoader = std::function<Expected<std::vector<std::string>>(
    const std::string& storeDir, const std::string& collection)>;

inline CollectionLoader& collectionLoader() {
    static CollectionLoader loader;
    return loader;
}

}  // namespace lectern::cli
