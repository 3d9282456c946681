// The document viewer: a PDF page view or a text view with line numbers, a toolbar for
// page navigation, zoom and find, and the jump API the other panels use (search hits,
// passages, surprise spans): jumpTo(document, page or line range, words to highlight).
#pragma once

#include <QWidget>

#include "store/store.h"

class QLabel;
class QLineEdit;
class QSpinBox;
class QStackedWidget;
class QToolButton;

namespace lectern::ui {

class PdfView;
class TextView;

struct JumpTarget {
    int64_t documentId = 0;
    int page = 0;       // 1-based PDF page; 0: not a page reference
    int lineStart = 0;  // 1-based line range in text documents; 0: none
    int lineEnd = 0;
    QString terms;  // words to highlight
};

class ViewerPanel : public QWidget {
    Q_OBJECT
public:
    explicit ViewerPanel(QWidget* parent = nullptr);

    // The store the documents come from (their stored text is the fallback for a moved file).
    void setStoreDir(const QString& storeDir) { storeDir_ = storeDir; }
    void openDocument(const store::DocumentInfo& doc);
    void jumpTo(const store::DocumentInfo& doc, const JumpTarget& target);
    void zoomIn();
    void zoomOut();
    void nextPage();
    void previousPage();
    void focusFind();

    int64_t documentId() const { return doc_.id; }
    const store::DocumentInfo& document() const { return doc_; }
    bool showingPdf() const;
    int currentPage() const;
    int pageCount() const;
    int highlightedLine() const;
    PdfView* pdfView() const { return pdf_; }
    TextView* textView() const { return text_; }
    QString message() const;

    // Surprise overlay: page → 0..1 (PDF) or line → 0..1 (text); empty clears.
    void setSurpriseTints(const QHash<int, double>& pageTints, const QHash<int, double>& lineTints);

signals:
    void documentOpened(qint64 documentId);
    void pageShown(int page);

private:
    void showMessage(const QString& text);
    void loadText(const store::DocumentInfo& doc, const JumpTarget& target);
    void applyTarget(const JumpTarget& target);
    void updatePageControls();

    store::DocumentInfo doc_;
    QString storeDir_;
    QStackedWidget* stack_ = nullptr;
    QLabel* message_ = nullptr;
    PdfView* pdf_ = nullptr;
    TextView* text_ = nullptr;
    QToolButton *prev_ = nullptr, *next_ = nullptr, *zoomIn_ = nullptr, *zoomOut_ = nullptr;
    QSpinBox* page_ = nullptr;
    QLabel* pageOf_ = nullptr;
    QLabel* title_ = nullptr;
    QLineEdit* find_ = nullptr;
    QHash<int, double> pageTints_;
    int textGeneration_ = 0;
};

}  // namespace lectern::ui
