// The store side of `lectern-cli train --collection NAME [--store DIR]`
// (cli/engine/train_collection_loader.h): every document of the collection that has text,
// its segments joined in order, one string per document. Documents that failed to ingest
// (no content) are skipped.
#include "cli/engine/train_collection_loader.h"
#include "store.h"
#include "store_location.h"

namespace lectern::cli {
namespace {

Expected<std::vector<std::string>> loadCollection(const std::string& storeDir,
                                                  const std::string& collection) {
    Expected<std::filesystem::path> dir = store::resolveStoreDir(storeDir);
    if (!dir) return dir.status();
    auto opened = store::Store::open(*dir, {false, nullptr});
    if (!opened) return opened.status();
    store::Store& st = **opened;
    auto docs = st.listDocuments(collection);
    if (!docs) return docs.status();
    std::vector<std::string> texts;
    for (const store::DocumentInfo& d : *docs) {
        if (d.contentId == 0) continue;
        auto segments = st.documentSegments(d.id);
        if (!segments) return segments.status().withContext(d.path);
        std::string text;
        for (const ingest::Segment& s : *segments) {
            if (!text.empty() && text.back() != '\n') text += '\n';
            text += s.text;
        }
        if (!text.empty()) texts.push_back(std::move(text));
    }
    if (texts.empty())
        return Status::error("collection '" + collection + "' has no documents with text");
    return texts;
}

[[maybe_unused]] const bool registered = [] {
    collectionLoader() = loadCollection;
    return true;
}();

}  // namespace
}  // namespace lectern::cli
