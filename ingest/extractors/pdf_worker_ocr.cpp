// Tesseract OCR of a rendered PDF page (see pdf_worker_ocr.h). The render size is bounded in
// pixels whatever the page claims its size is, so a hostile MediaBox cannot ask for a
// gigapixel image; blank renders skip Tesseract entirely.
#include "ingest/extractors/pdf_worker_ocr.h"

#include <PDFDoc.h>
#include <SplashOutputDev.h>
#include <splash/SplashBitmap.h>
#include <tesseract/baseapi.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace lectern::ingest {
namespace {

constexpr double kOcrDpi = 300.0;
constexpr double kMaxPixels = 24e6;  // ~A3 at 300 dpi; larger pages are rendered coarser
constexpr double kMinDpi = 20.0;
constexpr double kProbeDpi = 36.0;  // blank-page check

// True when no pixel is darker than light grey: nothing for Tesseract to read.
bool looksBlank(const SplashBitmap& bitmap) {
    const auto* data = bitmap.getDataPtr();
    for (int y = 0; y < bitmap.getHeight(); ++y) {
        const auto* row = data + ptrdiff_t(y) * bitmap.getRowSize();
        for (int x = 0; x < bitmap.getWidth(); ++x) {
            if (row[x] < 200) return false;
        }
    }
    return true;
}

}  // namespace

PageOcr::PageOcr() = default;
PageOcr::~PageOcr() {
    if (api_) api_->End();
}

Status PageOcr::start() {
    if (api_) return Status::ok();
    if (!startError_.empty()) return Status::error(startError_);
    // Each worker is one core's worth of work; Tesseract's own threads would only contend.
    setenv("OMP_THREAD_LIMIT", "1", 0);
    auto api = std::make_unique<tesseract::TessBaseAPI>();
    if (api->Init(nullptr, "eng") != 0) {
        startError_ =
            "OCR unavailable: Tesseract could not load its English data "
            "(install tesseract-ocr-eng)";
        return Status::error(startError_);
    }
    api->SetPageSegMode(tesseract::PSM_AUTO);
    api_ = std::move(api);
    return Status::ok();
}

Expected<std::string> PageOcr::recognise(PDFDoc& doc, int page) {
    if (Status s = start(); !s) return s;
    const double w = doc.getPageCropWidth(page), h = doc.getPageCropHeight(page);  // points
    const double inches = std::max(w, 1.0) * std::max(h, 1.0) / 5184.0;
    const double dpi = std::min(kOcrDpi, std::sqrt(kMaxPixels / std::max(inches, 1e-6)));
    if (!(dpi >= kMinDpi)) return Status::error("page too large to render for OCR");
    SplashColor paper = {255, 255, 255, 255};
    // A coarse render first: blank pages (common between chapters) skip the full-size one.
    for (const double pass : {std::min(dpi, kProbeDpi), dpi}) {
        SplashOutputDev probe(splashModeMono8, 4, false, paper);
        probe.setFontAntialias(true);
        probe.startDoc(&doc);
        doc.displayPage(&probe, page, pass, pass, 0, false, true, false);
        SplashBitmap* bitmap = probe.getBitmap();
        if (!bitmap || bitmap->getWidth() <= 0 || bitmap->getHeight() <= 0) {
            return Status::error("page could not be rendered for OCR");
        }
        if (looksBlank(*bitmap)) return std::string();
        if (pass == dpi) return read(*bitmap, int(dpi));
    }
    return std::string();
}

std::string PageOcr::read(SplashBitmap& bitmap, int dpi) {
    api_->SetImage(bitmap.getDataPtr(), bitmap.getWidth(), bitmap.getHeight(), 1,
                   bitmap.getRowSize());
    api_->SetSourceResolution(dpi);
    std::unique_ptr<char[]> text(api_->GetUTF8Text());
    api_->Clear();
    return std::string(text ? text.get() : "");
}

}  // namespace lectern::ingest
