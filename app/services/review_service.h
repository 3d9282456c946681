// The review table: one or more questions asked of every document of a collection, each
// from that document's own state (cheap once the states exist), giving a document ×
// question table of answers with their supporting passages, exportable as CSV.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ask_service.h"

namespace lectern::services {

struct ReviewRow {
    int64_t documentId = 0;
    std::string path;
    std::string error;               // why this document has no answers ("" when it has)
    std::vector<AskAnswer> answers;  // one per question, in order
};

struct ReviewTable {
    std::string collection;
    std::vector<std::string> questions;
    std::vector<ReviewRow> rows;  // documents in the store's order (by path)
};

struct ReviewRequest {
    std::string collection;
    std::vector<std::string> questions;
};

// Asks every question of every document of the collection. A document that cannot be asked
// (no text, or its state failed) gets a row with its error and the review goes on; bad
// questions or an unknown collection fail the whole review before any work.
// onDocument(index, count, path) runs before each document.
Expected<ReviewTable> reviewRun(
    AskService& ask, store::Store& store, const ReviewRequest& request, const AskOptions& options,
    const std::function<void(size_t index, size_t count, const std::string& path)>& onDocument =
        {});

// RFC 4180 CSV: document_id, path, then per question "Qn answer", "Qn passages" (location and
// snippet, one per line), and error. Cells a spreadsheet would run as a formula (starting
// with = + - @ tab or CR) get a leading apostrophe (OWASP's CSV injection advice).
std::string reviewCsv(const ReviewTable& table);

// The CSV written atomically (temp file + rename); errors name the file.
Status reviewCsvWrite(const ReviewTable& table, const std::string& path);

}  // namespace lectern::services
