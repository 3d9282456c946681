// libFuzzer target for PDF-6: feeds arbitrary bytes to the same Poppler extraction code the
// worker process runs (extractPdfData), text only, a password set so encrypted inputs are
// exercised, and at most a few pages so that one input stays fast.
#include <cstddef>
#include <cstdint>

#include "ingest/extractors/pdf_worker_extract.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace lectern::ingest;
    static const bool quiet = (pdfInitPoppler(), true);
    (void)quiet;
    if (size > (1u << 20)) return 0;
    PdfExtractOptions options;
    options.password = "user";
    options.maxPages = 8;
    options.maxPageTextBytes = 1u << 20;
    PdfCallbacks callbacks;
    size_t total = 0;
    callbacks.meta = [](const DocumentMeta&) {};
    callbacks.segment = [&total](Segment&& segment) {
        total += segment.text.size();
        return true;
    };
    extractPdfData(reinterpret_cast<const char*>(data), size, "fuzz input", options, callbacks);
    return 0;
}
