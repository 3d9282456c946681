// The ask history in the store (ingest/store/ask_history.h) as the ask panel uses it: reads
// and clears open their own store connection and run on a worker thread (runAsync); the
// save runs on the engine thread with the services' own connection, right after the answer.
#pragma once

#include <QString>
#include <vector>

#include "lectern/status.h"
#include "services/ask_service.h"
#include "store/ask_history.h"

namespace lectern::ui {

// documentId: -1 the whole collection's history, 0 its collection-wide questions, > 0 one
// document's. An unknown collection has no history (an empty list, not an error).
Expected<std::vector<store::AskRecord>> readAskHistory(const QString& storeDir,
                                                       const QString& collection,
                                                       int64_t documentId);
Expected<int64_t> clearAskHistory(const QString& storeDir, const QString& collection,
                                  int64_t documentId);

// What the panel asked and what came back, as one history record (ids and times filled in
// by the caller).
store::AskRecord askRecordOf(const services::AskAnswer& answer, int64_t asOfPage,
                             double totalSeconds);

}  // namespace lectern::ui
