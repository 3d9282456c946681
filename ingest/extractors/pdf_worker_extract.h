// In-process PDF text extraction with Poppler: document metadata, then one Page segment per page
// in reading order, with OCR for pages that have no text layer. This is what runs inside the
// worker process (lectern-extract-pdf) and inside the fuzz target; the ingest pipeline never
// calls it directly, because Poppler on hostile input must not share its process.
//
// Text comes from Poppler's own TextOutputDev, the code pdftotext runs, over one XRef for the
// whole document. (Poppler-Qt6's Page::text() copies the XRef for every page, which re-parses
// fonts per page and made extraction ~50% slower than pdftotext; see NOTES-performance.md.)
#pragma once

#include <cstddef>
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

// Sets up Poppler's global state once per process and silences its diagnostics (a garbage
// PDF makes thousands of lines). Called by the worker and the fuzz target before anything else.
void pdfInitPoppler();

// `name` is used in messages only. Files up to kMapLimit are memory-mapped, larger ones read.
pdfproto::WorkerResult extractPdfFile(const std::string& path, const PdfExtractOptions& options,
                                      const PdfCallbacks& callbacks);
// `data` must outlive the call.
pdfproto::WorkerResult extractPdfData(const char* data, size_t size, const std::string& name,
                                      const PdfExtractOptions& options,
                                      const PdfCallbacks& callbacks);

}  // namespace lectern::ingest
