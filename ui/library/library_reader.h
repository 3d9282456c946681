// Read-side adapter over lectern::store::Store for the panels: each call opens the store
// (a reader connection; SQLite WAL lets it read while the ingest writer commits), runs one
// query and returns plain values. Meant to be called on a worker thread (QtConcurrent):
// nothing here touches widgets.
#pragma once

#include <QString>
#include <QStringList>
#include <vector>

#include "lectern/status.h"
#include "store/store.h"

namespace lectern::ui {

Expected<QStringList> readCollections(const QString& storeDir);
Expected<std::vector<store::DocumentInfo>> readDocuments(const QString& storeDir,
                                                         const QString& collection);
Expected<store::DocumentInfo> readDocument(const QString& storeDir, int64_t documentId);
Expected<std::vector<ingest::Segment>> readSegments(const QString& storeDir, int64_t documentId);
Expected<std::vector<store::SearchHit>> searchStore(const QString& storeDir,
                                                    const QString& collection, const QString& query,
                                                    int limit);
// Marks the documents removed (they leave the library and search; a later ingest of
// their files adds them again).
Status removeDocuments(const QString& storeDir, const std::vector<int64_t>& documentIds);

// A document's status and error in plain words for the library row, e.g.
// "needs a password" or "failed: <the extractor's message>".
QString describeStatus(const store::DocumentInfo& doc);

}  // namespace lectern::ui
