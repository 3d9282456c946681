// The PDF extractor: Poppler text per page (the TextOutputDev pdftotext uses) with page numbers,
// metadata, passwords and Tesseract OCR for scanned pages, all run in worker processes
// (lectern-extract-pdf) under a wall-clock timeout and an RLIMIT_AS memory limit, so a PDF that
// crashes or hangs Poppler costs one document. Workers are reused across documents and
// restarted after any failure.
#pragma once

#include <memory>
#include <string>

#include "ingest/extractors/extractor.h"

namespace lectern::ingest {

std::unique_ptr<Extractor> makePdfExtractor();

// Where the worker executable is looked for, first found wins: $LECTERN_PDF_WORKER; beside the
// running executable; ../lib/lectern beside it (the installed layout); the build tree.
std::string pdfWorkerPath();

}  // namespace lectern::ingest
