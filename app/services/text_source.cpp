// StoreTextSource: documents and segments from the store, and source fingerprints built
// from content hashes (so an unchanged source is recognised without reading its text).
#include "text_source.h"

#include <algorithm>

#include "store.h"

namespace lectern::services {
namespace {

// FNV-1a, 64 bit: a change detector over content hashes, not a security boundary (a
// state is only ever read into the model that made it, whatever this says).
struct Fnv {
    uint64_t h = 1469598103934665603ull;
    void add(std::string_view s) {
        for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;  // field separator
    }
    std::string hex() const {
        static const char* d = "0123456789abcdef";
        std::string out(16, '0');
        for (int i = 0; i < 16; ++i) out[size_t(i)] = d[(h >> (60 - 4 * i)) & 15];
        return out;
    }
};

void addDocument(Fnv& f, const store::DocumentInfo& d) {
    f.add(std::to_string(d.id));
    f.add(d.path);
    f.add(d.hash);
    f.add(d.kind);
    f.add(std::to_string(d.segmentCount));
}

// A collection's documents in its stream order: ingest order (id), so a file added later
// is appended at the end and the stream's state continues instead of re-reading.
Expected<std::vector<store::DocumentInfo>> collectionDocuments(store::Store& st, int64_t id) {
    Expected<store::Stmt> name =
        st.database().prepare("SELECT name FROM collections WHERE id = ?1");
    if (!name) return name.status();
    name->bind(1, id);
    Expected<bool> row = name->step();
    if (!row) return row.status();
    if (!*row) return Status::error("no collection " + std::to_string(id));
    Expected<std::vector<store::DocumentInfo>> docs = st.listDocuments(name->columnText(0));
    if (!docs) return docs.status();
    std::vector<store::DocumentInfo> out;
    for (store::DocumentInfo& d : *docs)
        if (d.contentId != 0 && d.segmentCount > 0) out.push_back(std::move(d));
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    return out;
}

Expected<std::vector<store::DocumentInfo>> documentsOf(store::Store& st, const StateKey& key) {
    if (key.owner == store::StateOwner::Collection) return collectionDocuments(st, key.id);
    Expected<store::DocumentInfo> doc = st.documentById(key.id);
    if (!doc) return doc.status();
    return std::vector<store::DocumentInfo>{std::move(*doc)};
}

std::string fingerprintOf(const StateKey& key, const std::vector<store::DocumentInfo>& docs) {
    Fnv f;
    f.add(key.describe());
    for (const auto& d : docs) addDocument(f, d);
    return f.hex();
}

}  // namespace

std::string StateKey::describe() const {
    return std::string(store::stateOwnerName(owner)) + " " + std::to_string(id);
}

Expected<std::string> StoreTextSource::fingerprint(const StateKey& key) {
    Expected<std::vector<store::DocumentInfo>> docs = documentsOf(*store_, key);
    if (!docs) return docs.status();
    return fingerprintOf(key, *docs);
}

Expected<SourceText> StoreTextSource::read(const StateKey& key) {
    Expected<std::vector<store::DocumentInfo>> docs = documentsOf(*store_, key);
    if (!docs) return docs.status();
    SourceText out;
    out.fingerprint = fingerprintOf(key, *docs);
    for (const store::DocumentInfo& d : *docs) {
        Expected<std::vector<ingest::Segment>> segs = store_->documentSegments(d.id);
        if (!segs) return segs.status();
        out.documents.push_back({d.id, d.path, std::move(*segs)});
    }
    return out;
}

}  // namespace lectern::services
