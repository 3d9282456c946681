// PDF pages rendered by Poppler-Qt6, one page at a time at the chosen zoom, on a worker
// thread (the GUI shows the previous image until the new one is ready). Search terms are
// highlighted with the rectangles Poppler finds on the page; the surprise overlay tints
// the whole page by its score.
#pragma once

#include <QImage>
#include <QScrollArea>
#include <memory>

namespace Poppler {
class Document;
}
class QLabel;

namespace lectern::ui {

class PdfView : public QScrollArea {
    Q_OBJECT
public:
    explicit PdfView(QWidget* parent = nullptr);
    ~PdfView() override;

    // Empty string on success, else the reason in plain words.
    QString open(const QString& path, const QString& password = {});
    void close();
    int pageCount() const { return pageCount_; }
    int currentPage() const { return page_; }  // 1-based; 0 when nothing is open
    double zoom() const { return zoom_; }
    void setPage(int page);
    void setZoom(double zoom);
    void setHighlight(const QString& terms);  // words to mark on every page shown
    QString highlight() const { return terms_; }
    int highlightCount() const { return highlightCount_; }  // rectangles on the shown page
    // 0..1 tint for the page (surprise overlay); negative clears.
    void setPageTint(double tint);
    bool renderPending() const { return pending_; }

signals:
    void pageChanged(int page, int pageCount);
    void rendered(int page);

private:
    void render();
    std::shared_ptr<Poppler::Document> doc_;
    QLabel* image_ = nullptr;
    int page_ = 0, pageCount_ = 0, generation_ = 0, highlightCount_ = 0;
    double zoom_ = 1.0, tint_ = -1.0;
    bool pending_ = false;
    QString terms_;
};

}  // namespace lectern::ui
