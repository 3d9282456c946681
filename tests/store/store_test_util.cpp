// Store test helpers; see store_test_util.h.
#include "store_test_util.h"

#include <stdlib.h>

#include "content_hash.h"

namespace lectern::store::testing {

ScratchDir::ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "lectern-test.XXXXXX").string();
    if (mkdtemp(pattern.data())) path_ = pattern;
}

ScratchDir::~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

Status writeDocument(Store& store, int64_t collectionId, const std::string& path,
                     const std::vector<std::string>& texts, const std::string& hash) {
    std::string joined;
    for (const std::string& t : texts) joined += t + "\n";
    const std::string contentHash = hash.empty() ? hashBytes(joined) : hash;
    if (Status s = store.begin(); !s) return s;
    Expected<int64_t> content = store.createPendingContent(contentHash, "text");
    if (!content) return content.status();
    for (size_t i = 0; i < texts.size(); ++i) {
        ingest::Segment segment;
        segment.kind = ingest::SegmentKind::Lines;
        segment.ordinal = int64_t(i + 1);
        segment.lineStart = segment.lineEnd = int64_t(i + 1);
        segment.label = "line " + std::to_string(i + 1);
        segment.text = texts[i];
        if (Status s = store.appendSegment(*content, int64_t(i), segment); !s) return s;
    }
    Expected<int64_t> finalId = store.completeContent(*content, int64_t(texts.size()), 0);
    if (!finalId) return finalId.status();
    DocumentWrite doc;
    doc.collectionId = collectionId;
    doc.path = path;
    doc.kind = "text";
    doc.hash = contentHash;
    doc.contentId = *finalId;
    if (Status s = store.putDocument(doc); !s) return s;
    return store.commit();
}

std::vector<std::string> searchPaths(Store& store, const std::string& collection,
                                     const std::string& query) {
    SearchRequest request;
    request.collection = collection;
    request.query = query;
    request.limit = 100;
    std::vector<std::string> paths;
    Expected<std::vector<SearchHit>> hits = store.search(request);
    if (!hits) return {"error: " + hits.error()};
    for (const SearchHit& hit : *hits) paths.push_back(hit.path);
    return paths;
}

}  // namespace lectern::store::testing
