// What a state is a state of: one document, or a whole collection read as one stream
// (its documents in ingest order, each behind a file header). A TextSource hands out the
// source's documents and segments and a cheap fingerprint that changes whenever the text
// does, so an unchanged source's state is reused without re-tokenizing it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../../ingest/extractors/extractor.h"
#include "lectern/status.h"
#include "state_index.h"

namespace lectern::store {
class Store;
}

namespace lectern::services {

struct StateKey {
    store::StateOwner owner = store::StateOwner::Document;
    int64_t id = 0;  // document id or collection id
    static StateKey document(int64_t id) { return {store::StateOwner::Document, id}; }
    static StateKey collection(int64_t id) { return {store::StateOwner::Collection, id}; }
    bool operator==(const StateKey&) const = default;
    auto operator<=>(const StateKey&) const = default;
    std::string describe() const;  // "document 12" / "collection 3"
};

struct SourceDocument {
    int64_t id = 0;
    std::string path;
    std::vector<ingest::Segment> segments;  // reading order
};

struct SourceText {
    std::string fingerprint;  // changes whenever any document's text does
    std::vector<SourceDocument> documents;
};

class TextSource {
public:
    virtual ~TextSource() = default;
    // The fingerprint alone (no segments read).
    virtual Expected<std::string> fingerprint(const StateKey& key) = 0;
    virtual Expected<SourceText> read(const StateKey& key) = 0;
};

// Reads documents from a store (Store::documentById / listDocuments / documentSegments);
// the fingerprint is built from the documents' content hashes. Not thread-safe: give each
// thread its own (each opens its own connection).
class StoreTextSource : public TextSource {
public:
    explicit StoreTextSource(store::Store& store) : store_(&store) {}
    Expected<std::string> fingerprint(const StateKey& key) override;
    Expected<SourceText> read(const StateKey& key) override;

private:
    store::Store* store_;
};

}  // namespace lectern::services
