// OCR of scanned PDF pages inside the worker: renders a page that has no text layer with
// Poppler's Splash rasteriser (8-bit grey) and reads it with Tesseract (English). Tesseract is
// started lazily, once per worker, because its start-up costs far more than one page.
#pragma once

#include <memory>
#include <string>

#include "lectern/status.h"

class PDFDoc;
class SplashBitmap;
namespace tesseract {
class TessBaseAPI;
}

namespace lectern::ingest {

class PageOcr {
public:
    PageOcr();
    ~PageOcr();
    PageOcr(const PageOcr&) = delete;
    PageOcr& operator=(const PageOcr&) = delete;

    // Text of the rendered page; empty for a blank page. An error when Tesseract cannot start
    // or the page cannot be rendered (the caller records it as a warning).
    Expected<std::string> recognise(PDFDoc& doc, int page);  // page is 1-based

private:
    Status start();
    std::string read(SplashBitmap& bitmap, int dpi);
    std::unique_ptr<tesseract::TessBaseAPI> api_;
    std::string startError_;
};

}  // namespace lectern::ingest
