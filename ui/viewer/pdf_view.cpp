// PdfView: Poppler renders at 96 dpi × zoom × device pixel ratio; highlight rectangles come
// back in points (1/72 in) and are scaled to the image.
#include "viewer/pdf_view.h"

#include <poppler-qt6.h>

#include <QLabel>
#include <QMutex>
#include <QPainter>
#include <QPointer>
#include <QtConcurrent>

namespace lectern::ui {
namespace {

struct RenderResult {
    QImage image;
    int rects = 0;
};

// Runs on a worker; Poppler documents are used by one render at a time (generation_ drops
// stale results, and renders are serialised by the mutex).
RenderResult renderPage(const std::shared_ptr<Poppler::Document>& doc, int page, double dpi,
                        const QString& terms, double tint) {
    static QMutex mutex;
    QMutexLocker lock(&mutex);
    RenderResult r;
    std::unique_ptr<Poppler::Page> p(doc->page(page - 1));
    if (!p) return r;
    r.image = p->renderToImage(dpi, dpi);
    if (r.image.isNull()) return r;
    QPainter painter(&r.image);
    if (tint >= 0) {
        QColor c(230, 80, 40);
        c.setAlphaF(float(0.05 + 0.35 * qBound(0.0, tint, 1.0)));
        painter.fillRect(r.image.rect(), c);
    }
    const double scale = dpi / 72.0;
    QColor mark(255, 210, 0, 110);
    for (const QString& word : terms.split(QLatin1Char(' '), Qt::SkipEmptyParts)) {
        const QString w = QString(word).remove(QLatin1Char('"')).remove(QLatin1Char('*'));
        if (w.isEmpty()) continue;
        for (const QRectF& rect : p->search(w, Poppler::Page::IgnoreCase)) {
            painter.fillRect(QRectF(rect.x() * scale, rect.y() * scale, rect.width() * scale,
                                    rect.height() * scale),
                             mark);
            ++r.rects;
        }
    }
    return r;
}

}  // namespace

PdfView::PdfView(QWidget* parent) : QScrollArea(parent) {
    image_ = new QLabel(this);
    image_->setAlignment(Qt::AlignCenter);
    image_->setAccessibleName(tr("PDF page"));
    setWidget(image_);
    setWidgetResizable(true);
    setAlignment(Qt::AlignCenter);
    setAccessibleName(tr("PDF view"));
}

PdfView::~PdfView() = default;

QString PdfView::open(const QString& path, const QString& password) {
    close();
    std::unique_ptr<Poppler::Document> doc =
        Poppler::Document::load(path, password.toUtf8(), password.toUtf8());
    if (!doc) return tr("%1 cannot be opened as a PDF (damaged or not a PDF)").arg(path);
    if (doc->isLocked()) return tr("%1 is encrypted and needs a password").arg(path);
    doc->setRenderHint(Poppler::Document::Antialiasing);
    doc->setRenderHint(Poppler::Document::TextAntialiasing);
    doc_ = std::shared_ptr<Poppler::Document>(std::move(doc));
    pageCount_ = doc_->numPages();
    if (pageCount_ <= 0) {
        close();
        return tr("%1 has no pages").arg(path);
    }
    page_ = 1;
    // Open at the width of the view (as a reader expects), within sensible bounds.
    if (std::unique_ptr<Poppler::Page> first = doc_->page(0)) {
        const double widthPx = first->pageSizeF().width() / 72.0 * 96.0;
        const int available = viewport()->width() - 2 * frameWidth() - 16;
        if (widthPx > 0 && available > 100) zoom_ = qBound(0.25, available / widthPx, 3.0);
    }
    render();
    emit pageChanged(page_, pageCount_);
    return {};
}

void PdfView::close() {
    ++generation_;
    doc_.reset();
    page_ = pageCount_ = highlightCount_ = 0;
    pending_ = false;
    image_->clear();
}

void PdfView::setPage(int page) {
    if (!doc_) return;
    page = qBound(1, page, pageCount_);
    if (page == page_) return;
    page_ = page;
    render();
    emit pageChanged(page_, pageCount_);
}

void PdfView::setZoom(double zoom) {
    zoom_ = qBound(0.25, zoom, 6.0);
    render();
}

void PdfView::setHighlight(const QString& terms) {
    terms_ = terms;
    render();
}

void PdfView::setPageTint(double tint) {
    tint_ = tint;
    render();
}

void PdfView::render() {
    if (!doc_) return;
    const int generation = ++generation_;
    const double ratio = devicePixelRatioF();
    const double dpi = 96.0 * zoom_ * ratio;
    pending_ = true;
    auto* watcher = new QFutureWatcher<RenderResult>(this);
    connect(watcher, &QFutureWatcher<RenderResult>::finished, this,
            [this, watcher, generation, ratio] {
                watcher->deleteLater();
                if (generation != generation_) return;
                RenderResult r = watcher->result();
                pending_ = false;
                highlightCount_ = r.rects;
                QPixmap pixmap = QPixmap::fromImage(r.image);
                pixmap.setDevicePixelRatio(ratio);
                image_->setPixmap(pixmap);
                emit rendered(page_);
            });
    watcher->setFuture(QtConcurrent::run(renderPage, doc_, page_, dpi, terms_, tint_));
}

}  // namespace lectern::ui
