// Helpers for the ask, review and surprise tests: a scratch store with documents written
// the way the ingest writer does (pages for PDFs, line ranges for code), and a random
// byte-level model on disk.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "content_hash.h"
#include "store.h"

namespace lectern::services::testing {

struct TestSegment {
    ingest::SegmentKind kind = ingest::SegmentKind::Lines;
    int64_t ordinal = 0, lineStart = 0, lineEnd = 0;
    std::string text;
};

inline TestSegment page(int64_t n, std::string text) {
    return {ingest::SegmentKind::Page, n, 0, 0, std::move(text)};
}
inline TestSegment lines(int64_t from, int64_t to, std::string text) {
    return {ingest::SegmentKind::Lines, from, from, to, std::move(text)};
}

// Writes one document; returns its id (0 and a test failure on error).
inline Expected<int64_t> putTestDocument(store::Store& store, const std::string& collection,
                                         const std::string& path, const std::string& kind,
                                         const std::vector<TestSegment>& segments) {
    auto cid = store.ensureCollection(collection);
    if (!cid) return cid.status();
    std::string joined;
    for (const auto& s : segments) joined += s.text + "\n";
    const std::string hash = store::hashBytes(joined);
    if (Status s = store.begin(); !s) return s;
    auto content = store.createPendingContent(hash, kind);
    if (!content) return content.status();
    for (size_t i = 0; i < segments.size(); ++i) {
        ingest::Segment seg;
        seg.kind = segments[i].kind;
        seg.ordinal = segments[i].ordinal;
        seg.lineStart = segments[i].lineStart;
        seg.lineEnd = segments[i].lineEnd;
        seg.label =
            seg.kind == ingest::SegmentKind::Page ? "page " + std::to_string(seg.ordinal) : "";
        seg.text = segments[i].text;
        if (Status s = store.appendSegment(*content, int64_t(i), seg); !s) return s;
    }
    auto final = store.completeContent(*content, int64_t(segments.size()), int64_t(joined.size()));
    if (!final) return final.status();
    store::DocumentWrite doc;
    doc.collectionId = *cid;
    doc.path = path;
    doc.kind = kind;
    doc.hash = hash;
    doc.pageCount = segments.empty() || segments[0].kind != ingest::SegmentKind::Page
                        ? 0
                        : int64_t(segments.size());
    doc.contentId = *final;
    if (Status s = store.putDocument(doc); !s) return s;
    if (Status s = store.commit(); !s) return s;
    auto known = store.knownDocuments(*cid);
    if (!known) return known.status();
    return known->at(path).id;
}

class ScratchStore {
public:
    ScratchStore() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "lectern-ask-test.XXXXXX").string();
        if (mkdtemp(pattern.data())) dir_ = pattern;
        auto s = store::Store::open(dir_ / "store");
        if (s)
            store_ = std::move(*s);
        else
            error_ = s.error();
    }
    ~ScratchStore() {
        store_.reset();
        std::error_code ec;
        if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
    }
    store::Store* store() { return store_.get(); }
    const std::string& error() const { return error_; }
    const std::filesystem::path& dir() const { return dir_; }
    std::filesystem::path storeDir() const { return dir_ / "store"; }

private:
    std::filesystem::path dir_;
    std::unique_ptr<store::Store> store_;
    std::string error_;
};

}  // namespace lectern::services::testing
