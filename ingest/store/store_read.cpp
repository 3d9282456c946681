// Store read API: documents of a collection, one document by id, and a document's
// segments in reading order. Used by `ask`, the state index and the GUI's document list.
#include <string>

#include "store.h"

namespace lectern::store {
namespace {

// Columns read by readDocument(), in this order.
constexpr const char* kDocumentColumns =
    "SELECT d.id, d.collection_id, c.name, d.path, d.kind, d.content_hash, d.status, d.error, "
    "d.meta, d.size, d.mtime_ns, d.page_count, coalesce(ct.segment_count, 0), "
    "coalesce(ct.text_bytes, 0), d.replaced_bytes, coalesce(d.content_id, 0) "
    "FROM documents d JOIN collections c ON c.id = d.collection_id "
    "LEFT JOIN contents ct ON ct.id = d.content_id ";

DocumentInfo readDocument(const Stmt& stmt) {
    DocumentInfo doc;
    doc.id = stmt.columnInt(0);
    doc.collectionId = stmt.columnInt(1);
    doc.collection = stmt.columnText(2);
    doc.path = stmt.columnText(3);
    doc.kind = stmt.columnText(4);
    doc.hash = stmt.columnText(5);
    doc.status = stmt.columnText(6);
    doc.error = stmt.columnText(7);
    doc.metaJson = stmt.columnText(8);
    doc.size = stmt.columnInt(9);
    doc.mtimeNs = stmt.columnInt(10);
    doc.pageCount = stmt.columnInt(11);
    doc.segmentCount = stmt.columnInt(12);
    doc.textBytes = stmt.columnInt(13);
    doc.replacedBytes = stmt.columnInt(14);
    doc.contentId = stmt.columnInt(15);
    return doc;
}

}  // namespace

Expected<std::vector<DocumentInfo>> Store::listDocuments(std::string_view collection) {
    Expected<int64_t> collectionId = findCollection(collection);
    if (!collectionId) return collectionId.status();
    if (*collectionId == 0) {
        return Status::error("no collection named '" + std::string(collection) + "'");
    }
    Expected<Stmt> stmt = db_.prepare(std::string(kDocumentColumns) +
                                      "WHERE d.collection_id = ?1 AND d.status != 'removed' "
                                      "ORDER BY d.path");
    if (!stmt) return stmt.status();
    stmt->bind(1, *collectionId);
    std::vector<DocumentInfo> docs;
    for (;;) {
        Expected<bool> row = stmt->step();
        if (!row) return row.status();
        if (!*row) break;
        docs.push_back(readDocument(*stmt));
    }
    return docs;
}

Expected<DocumentInfo> Store::documentById(int64_t documentId) {
    Expected<Stmt> stmt = db_.prepare(std::string(kDocumentColumns) + "WHERE d.id = ?1");
    if (!stmt) return stmt.status();
    stmt->bind(1, documentId);
    Expected<bool> row = stmt->step();
    if (!row) return row.status();
    const std::string missing = "no document " + std::to_string(documentId);
    if (!*row) return Status::error(missing + " in store " + dir_.string());
    DocumentInfo doc = readDocument(*stmt);
    if (doc.status == kStatusRemoved) {
        return Status::error(missing + " (" + doc.path + " was removed from collection '" +
                             doc.collection + "')");
    }
    return doc;
}

Expected<std::vector<ingest::Segment>> Store::documentSegments(int64_t documentId) {
    Expected<DocumentInfo> doc = documentById(documentId);
    if (!doc) return doc.status();
    std::vector<ingest::Segment> segments;
    if (doc->contentId == 0) return segments;
    Expected<Stmt> stmt = db_.prepare(
        "SELECT kind, ordinal, line_start, line_end, label, ocr, text FROM segments "
        "WHERE content_id = ?1 ORDER BY seq");
    if (!stmt) return stmt.status();
    stmt->bind(1, doc->contentId);
    segments.reserve(size_t(doc->segmentCount));
    for (;;) {
        Expected<bool> row = stmt->step();
        if (!row) return row.status();
        if (!*row) break;
        ingest::Segment& segment = segments.emplace_back();
        segment.kind = static_cast<ingest::SegmentKind>(stmt->columnInt(0));
        segment.ordinal = stmt->columnInt(1);
        segment.lineStart = stmt->columnInt(2);
        segment.lineEnd = stmt->columnInt(3);
        segment.label = stmt->columnText(4);
        segment.ocr = stmt->columnInt(5) != 0;
        segment.text = stmt->columnText(6);
    }
    return segments;
}

}  // namespace lectern::store
