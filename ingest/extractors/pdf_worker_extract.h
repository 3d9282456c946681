// In-process PDF text extraction over Poppler-Qt6: document metadata, then one Page segment per
// page in reading order, with OCR for pages that have no text layer. This is what runs inside
// the worker process (lectern-extract-pdf) and inside the fuzz target; the ingest pipeline
// never calls it directly, because Poppler on hostile input must not share its process.
#pragma once

#include <QByteArray>
#include <functional>
#include <string>

#include "ingest/extractors/extractor.h"
#include "ingest/extractors/pdf_worker_protocol.h"

namespace lectern::ingest {

class PageOcr;

struct PdfExtractOptions {
    std::string password;                  // tried as UTF-8, then as Latin-1
    PageOcr* ocr = nullptr;                // null: pages without text stay empty
    size_t maxPageTextBytes = 16u << 20;   // longer page text is cut, with a warning
    int maxConsecutiveMissingPages = 256;  // a lying /Count stops here, with a warning
    int maxPages = 0;                      // 0: all; the fuzz target reads only a few
};

struct PdfCallbacks {
    std::function<void(const DocumentMeta&)> meta;
    std::function<void(int64_t page)> pageStarted;  // 1-based, before the page is parsed
    std::function<bool(Segment&&)> segment;         // false: stop (cancelled)
};

// `name` is used in messages only. Poppler's own diagnostics are silenced (see pdfQuietPoppler).
pdfproto::WorkerResult extractPdfFile(const std::string& path, const PdfExtractOptions& options,
                                      const PdfCallbacks& callbacks);
pdfproto::WorkerResult extractPdfData(const QByteArray& data, const std::string& name,
                                      const PdfExtractOptions& options,
                                      const PdfCallbacks& callbacks);

// Routes Poppler's error output away from stderr (a garbage PDF makes thousands of lines).
void pdfQuietPoppler();

}  // namespace lectern::ingest
