// Tesseract OCR of a rendered PDF page (see pdf_worker_ocr.h). The render size is bounded in
// pixels whatever the page claims its size is, so a hostile MediaBox cannot ask for a
// gigapixel image; blank renders skip Tesseract entirely.
#include "ingest/extractors/pdf_worker_ocr.h"

#include <poppler-qt6.h>
#include <tesseract/baseapi.h>

#include <QImage>
#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace lectern::ingest {
namespace {

constexpr double kOcrDpi = 300.0;
constexpr double kMaxPixels = 24e6;  // ~A3 at 300 dpi; larger pages are rendered coarser
constexpr double kMinDpi = 20.0;

// True when no pixel is darker than light grey: nothing for Tesseract to read.
bool looksBlank(const QImage& gray) {
    for (int y = 0; y < gray.height(); ++y) {
        const uchar* row = gray.constScanLine(y);
        for (int x = 0; x < gray.width(); ++x) {
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

Expected<std::string> PageOcr::recognise(const Poppler::Page& page) {
    if (Status s = start(); !s) return s;
    const QSizeF points = page.pageSizeF();  // 1/72 inch
    const double inches = std::max(points.width(), 1.0) * std::max(points.height(), 1.0) / 5184.0;
    double dpi = std::min(kOcrDpi, std::sqrt(kMaxPixels / std::max(inches, 1e-6)));
    if (!(dpi >= kMinDpi)) return Status::error("page too large to render for OCR");
    QImage image = page.renderToImage(dpi, dpi);
    if (image.isNull()) return Status::error("page could not be rendered for OCR");
    QImage gray = image.convertToFormat(QImage::Format_Grayscale8);
    if (gray.isNull()) return Status::error("out of memory converting the page image for OCR");
    if (looksBlank(gray)) return std::string();
    api_->SetImage(gray.constBits(), gray.width(), gray.height(), 1, int(gray.bytesPerLine()));
    api_->SetSourceResolution(int(dpi));
    std::unique_ptr<char[]> text(api_->GetUTF8Text());
    api_->Clear();
    return std::string(text ? text.get() : "");
}

}  // namespace lectern::ingest
