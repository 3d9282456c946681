// The local store: one SQLite database (WAL) per store directory holding collections,
// documents with status and provenance-carrying segments, and the FTS5 index. The
// ingest pipeline's single writer thread owns one Store; readers (search, status, the
// pipeline's hash look-ups) open their own. See schema.cpp for the layout.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../extractors/extractor.h"
#include "icu_tokenizer.h"
#include "lectern/status.h"
#include "sqlite_db.h"

namespace lectern::store {

// Document statuses as stored. "ok" and "partial" documents are searchable.
inline constexpr const char* kStatusOk = "ok";
inline constexpr const char* kStatusPartial = "partial";
inline constexpr const char* kStatusRemoved = "removed";

struct OpenOptions {
    bool create = true;         // create the directory and database when absent
    const char* vfs = nullptr;  // SQLite VFS name; fault-injection tests use their own
};

struct KnownDocument {
    int64_t id = 0;
    int64_t size = 0;
    int64_t mtimeNs = 0;
    std::string hash;
    std::string kind;
    std::string status;
};

struct DocumentWrite {
    int64_t collectionId = 0;
    std::string path;
    std::string kind;  // extractor name
    int64_t size = 0;
    int64_t mtimeNs = 0;
    std::string hash;
    std::string status = kStatusOk;
    std::string error;
    int64_t replacedBytes = 0;
    std::string metaJson = "{}";
    int64_t pageCount = 0;
    int64_t contentId = 0;  // 0: the document has no content (failed or removed)
};

struct SearchHit {
    int64_t documentId = 0;
    std::string path;
    ingest::SegmentKind kind = ingest::SegmentKind::Lines;
    int64_t ordinal = 0;
    int64_t lineStart = 0;
    int64_t lineEnd = 0;
    std::string label;
    std::string snippet;  // matched words wrapped in the caller's markers
    double score = 0;     // bm25: lower is better
    bool ocr = false;
};

struct SearchRequest {
    std::string collection;
    std::string query;  // user words; quoted phrases and trailing * prefixes allowed
    int limit = 10;
    std::string markOpen = "[";
    std::string markClose = "]";
    // Search inside this one document only (0: any document of the collection). With a
    // document given, `collection` may be empty.
    int64_t documentId = 0;
};

// One stored document as the read API returns it (removed documents are not listed).
struct DocumentInfo {
    int64_t id = 0, collectionId = 0;
    std::string collection, path, kind, hash, status, error, metaJson;
    int64_t size = 0, mtimeNs = 0, pageCount = 0, segmentCount = 0, textBytes = 0;
    int64_t replacedBytes = 0;
    int64_t contentId = 0;  // 0: no content (the document failed)
};

struct DocumentIssue {
    std::string path;
    std::string status;
    std::string error;
};

struct CollectionReport {
    std::string name;
    int64_t documents = 0;
    std::map<std::string, int64_t> byStatus;
    int64_t segments = 0;
    int64_t bytes = 0;
    int64_t replacedBytes = 0;
    std::vector<DocumentIssue> issues;  // every document not ok (removed ones excluded)
};

class Store {
public:
    static Expected<std::unique_ptr<Store>> open(const std::filesystem::path& dir,
                                                 const OpenOptions& options = {});
    const std::filesystem::path& directory() const { return dir_; }
    // The connection, for sibling modules of the store (the state index); one accessor.
    Db& database() { return db_; }

    Expected<int64_t> ensureCollection(std::string_view name);
    Expected<int64_t> findCollection(std::string_view name);  // 0 when absent
    Expected<std::vector<std::string>> collectionNames();
    Expected<std::map<std::string, KnownDocument>> knownDocuments(int64_t collectionId);
    Expected<int64_t> findContent(std::string_view hash, std::string_view kind);  // 0: none
    Expected<int64_t> contentSegmentCount(int64_t contentId);

    // Writes; wrap them in begin()/commit() (the pipeline groups several documents).
    Status begin();
    Status commit();
    void rollback();
    Expected<int64_t> createPendingContent(std::string_view hash, std::string_view kind);
    // `tokens`, when given, is the segment text's pretokenize() result: the FTS5 insert
    // replays it instead of tokenizing on this (the writer's) thread.
    Status appendSegment(int64_t contentId, int64_t seq, const ingest::Segment& segment,
                         const PretokenizedText* tokens = nullptr);
    // Marks the content complete; when an identical complete content already exists the
    // pending one is dropped and the existing id returned.
    Expected<int64_t> completeContent(int64_t contentId, int64_t segmentCount, int64_t textBytes);
    Status dropContent(int64_t contentId);
    // Inserts or replaces the document at (collection, path); drops content left unused.
    Status putDocument(const DocumentWrite& doc);
    Status touchDocument(int64_t documentId, int64_t size, int64_t mtimeNs);
    Status markRemoved(int64_t documentId);
    // Deletes pending contents (a crashed ingest's leftovers) and unreferenced contents.
    // Only call while holding the ingest lock.
    Status collectGarbage();

    Expected<std::vector<SearchHit>> search(const SearchRequest& request);

    // Read API (store_read.cpp). Documents of a collection ordered by path; an unknown
    // collection is an error.
    Expected<std::vector<DocumentInfo>> listDocuments(std::string_view collection);
    // Error "no document N" when absent or removed.
    Expected<DocumentInfo> documentById(int64_t documentId);
    // The document's segments in reading order (empty for a document without content).
    Expected<std::vector<ingest::Segment>> documentSegments(int64_t documentId);
    Expected<std::vector<CollectionReport>> report(std::string_view collection);
    // "ok" when PRAGMA integrity_check and the FTS5 integrity-check both pass, else what
    // they reported.
    Expected<std::string> integrityCheck();

private:
    Store() = default;
    Status prepareStatements();
    struct SearchScope;
    Expected<SearchScope> searchScope(const SearchRequest& request);
    Expected<int64_t> rankingCutoff(const std::string& match, int64_t lo, int64_t hi);
    struct RankedHit {
        SearchHit hit;
        int64_t segmentId = 0;
    };
    struct RankQuery {  // the statements of one search, reused across rank windows
        const std::string& match;
        size_t limit;
        Stmt& ranked;
        Stmt& lookup;
    };
    Status rankWindow(const RankQuery& query, int64_t lo, int64_t hi,
                      std::vector<RankedHit>& found);
    Status addPassageHits(Stmt& lookup, int64_t segmentId, double score,
                          std::vector<RankedHit>& hits);
    Status addSnippets(const SearchRequest& request, const std::string& match,
                       std::vector<RankedHit>& found);
    Status dropIfUnused(int64_t contentId);

    std::filesystem::path dir_;
    Db db_;
    Transaction tx_{db_};
    Stmt insertSegment_, insertContent_, findContent_, completeContent_, documentByPath_;
    Stmt upsertDocument_, contentUsers_, deleteContent_;
};

// Turns user words into a safe FTS5 MATCH expression: each word becomes a quoted
// string (so punctuation never causes syntax errors), "phrases" stay phrases, a word
// ending in * stays a prefix query, and the terms are AND-ed. Empty when nothing remains.
std::string toFtsQuery(std::string_view userQuery);

}  // namespace lectern::store
