// Helpers shared by the store tests: a scratch directory removed at the end, and a way
// to write one document with its segments the way the pipeline's writer does.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "store.h"

namespace lectern::store::testing {

class ScratchDir {
public:
    ScratchDir();
    ~ScratchDir();
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// Writes `texts` as Lines segments of a document at `path` in one transaction.
Status writeDocument(Store& store, int64_t collectionId, const std::string& path,
                     const std::vector<std::string>& texts, const std::string& hash = "");

std::vector<std::string> searchPaths(Store& store, const std::string& collection,
                                     const std::string& query);

}  // namespace lectern::store::testing
