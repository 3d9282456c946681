// ViewerPanel: chooses the view by document kind, loads text files on a worker, and applies
// jump targets once the document is shown.
#include "viewer/viewer_panel.h"

#include <QFile>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QSpinBox>
#include <QStackedWidget>
#include <QStringDecoder>
#include <QToolButton>
#include <QVBoxLayout>

#include "async.h"
#include "library/library_reader.h"
#include "viewer/pdf_view.h"
#include "viewer/text_view.h"

namespace lectern::ui {
namespace {

constexpr qint64 kMaxTextBytes = qint64(256) << 20;

struct TextLoad {
    QString text;
    QString error;
};

// The file as the user has it; when it is gone, the stored segments (what was ingested).
TextLoad readDocumentText(const QString& storeDir, int64_t documentId, const QString& path) {
    TextLoad out;
    QFile f(path);
    if (f.open(QIODevice::ReadOnly) && f.size() <= kMaxTextBytes) {
        QStringDecoder utf8(QStringDecoder::Utf8);
        out.text = utf8(f.readAll());
        return out;
    }
    auto segments = readSegments(storeDir, documentId);
    if (!segments) {
        out.error = QObject::tr("%1 cannot be read (%2), and its stored text neither: %3")
                        .arg(path, f.errorString(), QString::fromStdString(segments.error()));
        return out;
    }
    for (const ingest::Segment& s : *segments) out.text += QString::fromStdString(s.text);
    return out;
}

QToolButton* toolButton(QWidget* parent, const QString& text, const QString& name,
                        const QKeySequence& key) {
    auto* b = new QToolButton(parent);
    b->setText(text);
    b->setAccessibleName(name);
    b->setToolTip(key.isEmpty() ? name
                                : name + " (" + key.toString(QKeySequence::NativeText) + ")");
    return b;
}

}  // namespace

ViewerPanel::ViewerPanel(QWidget* parent) : QWidget(parent) {
    title_ = new QLabel(this);
    title_->setAccessibleName(tr("Document title"));
    title_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    // A long file name must not widen the window: the label shrinks (tooltip: full path).
    title_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    title_->setMinimumWidth(60);
    prev_ = toolButton(this, tr("◀"), tr("Previous page"), QKeySequence(Qt::Key_PageUp));
    next_ = toolButton(this, tr("▶"), tr("Next page"), QKeySequence(Qt::Key_PageDown));
    page_ = new QSpinBox(this);
    page_->setAccessibleName(tr("Page number"));
    page_->setMinimum(1);
    pageOf_ = new QLabel(this);
    zoomOut_ = toolButton(this, tr("−"), tr("Zoom out"), QKeySequence::ZoomOut);
    zoomIn_ = toolButton(this, tr("+"), tr("Zoom in"), QKeySequence::ZoomIn);
    find_ = new QLineEdit(this);
    find_->setPlaceholderText(tr("Find in document"));
    find_->setAccessibleName(tr("Find in document"));
    find_->setClearButtonEnabled(true);
    auto* bar = new QHBoxLayout;
    bar->addWidget(title_, 1);
    bar->addWidget(prev_);
    bar->addWidget(page_);
    bar->addWidget(pageOf_);
    bar->addWidget(next_);
    bar->addSpacing(8);
    bar->addWidget(zoomOut_);
    bar->addWidget(zoomIn_);
    bar->addSpacing(8);
    bar->addWidget(find_);

    stack_ = new QStackedWidget(this);
    message_ = new QLabel(tr("Open a document from the library, or a search hit."), this);
    message_->setAlignment(Qt::AlignCenter);
    message_->setWordWrap(true);
    message_->setAccessibleName(tr("Viewer message"));
    pdf_ = new PdfView(this);
    text_ = new TextView(this);
    stack_->addWidget(message_);
    stack_->addWidget(pdf_);
    stack_->addWidget(text_);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(bar);
    layout->addWidget(stack_, 1);

    connect(prev_, &QToolButton::clicked, this, &ViewerPanel::previousPage);
    connect(next_, &QToolButton::clicked, this, &ViewerPanel::nextPage);
    connect(zoomIn_, &QToolButton::clicked, this, &ViewerPanel::zoomIn);
    connect(zoomOut_, &QToolButton::clicked, this, &ViewerPanel::zoomOut);
    connect(page_, &QSpinBox::editingFinished, this, [this] { pdf_->setPage(page_->value()); });
    connect(pdf_, &PdfView::pageChanged, this, [this](int page, int) {
        updatePageControls();
        pdf_->setPageTint(pageTints_.value(page, -1.0));
        emit pageShown(page);
    });
    connect(find_, &QLineEdit::returnPressed, this, [this] {
        if (showingPdf())
            pdf_->setHighlight(find_->text());
        else if (!text_->find(find_->text())) {
            text_->moveCursor(QTextCursor::Start);  // wrap around
            text_->find(find_->text());
        }
    });
    updatePageControls();
}

bool ViewerPanel::showingPdf() const {
    return stack_->currentWidget() == pdf_;
}
int ViewerPanel::currentPage() const {
    return showingPdf() ? pdf_->currentPage() : 0;
}
int ViewerPanel::pageCount() const {
    return showingPdf() ? pdf_->pageCount() : 0;
}
int ViewerPanel::highlightedLine() const {
    return text_->highlightedFirstLine();
}
QString ViewerPanel::message() const {
    return message_->text();
}

void ViewerPanel::showMessage(const QString& text) {
    message_->setText(text);
    stack_->setCurrentWidget(message_);
    updatePageControls();
}

void ViewerPanel::updatePageControls() {
    const bool pdf = showingPdf();
    for (QWidget* w :
         {static_cast<QWidget*>(prev_), static_cast<QWidget*>(next_), static_cast<QWidget*>(page_),
          static_cast<QWidget*>(zoomIn_), static_cast<QWidget*>(zoomOut_)})
        w->setEnabled(pdf);
    if (pdf) {
        QSignalBlocker block(page_);
        page_->setMaximum(qMax(1, pdf_->pageCount()));
        page_->setValue(pdf_->currentPage());
        pageOf_->setText(tr("of %1").arg(pdf_->pageCount()));
    } else {
        pageOf_->setText(QString());
    }
}

void ViewerPanel::openDocument(const store::DocumentInfo& doc) {
    jumpTo(doc, JumpTarget{doc.id});
}

void ViewerPanel::jumpTo(const store::DocumentInfo& doc, const JumpTarget& target) {
    const bool same = doc.id == doc_.id && stack_->currentWidget() != message_;
    const QString path = QString::fromStdString(doc.path);
    title_->setText(QFileInfo(path).fileName());
    title_->setToolTip(path);
    if (same) {
        applyTarget(target);
        return;
    }
    doc_ = doc;
    pageTints_.clear();
    text_->setLineTints({});
    if (doc.kind == "pdf") {
        stack_->setCurrentWidget(pdf_);  // first, so the page fits the view's real width
        const QString error = pdf_->open(path);
        if (!error.isEmpty()) {
            showMessage(error);
        } else {
            stack_->setCurrentWidget(pdf_);
            applyTarget(target);
            updatePageControls();
        }
        emit documentOpened(doc.id);
        return;
    }
    loadText(doc, target);
}

void ViewerPanel::loadText(const store::DocumentInfo& doc, const JumpTarget& target) {
    showMessage(tr("Loading %1…").arg(QString::fromStdString(doc.path)));
    const int generation = ++textGeneration_;
    const QString storeDir = storeDir_;
    const QString path = QString::fromStdString(doc.path);
    const int64_t id = doc.id;
    runAsync(
        this, [storeDir, id, path] { return readDocumentText(storeDir, id, path); },
        [this, generation, target, id](TextLoad load) {
            if (generation != textGeneration_) return;
            if (!load.error.isEmpty()) {
                showMessage(load.error);
            } else {
                text_->setPlainText(load.text);
                stack_->setCurrentWidget(text_);
                applyTarget(target);
                updatePageControls();
            }
            emit documentOpened(id);
        });
}

void ViewerPanel::applyTarget(const JumpTarget& target) {
    if (showingPdf()) {
        if (target.page > 0) pdf_->setPage(target.page);
        if (pdf_->highlight() != target.terms) pdf_->setHighlight(target.terms);
        updatePageControls();
    } else if (stack_->currentWidget() == text_ && target.lineStart > 0) {
        text_->showLines(target.lineStart, qMax(target.lineStart, target.lineEnd));
    }
}

void ViewerPanel::zoomIn() {
    pdf_->setZoom(pdf_->zoom() * 1.25);
}
void ViewerPanel::zoomOut() {
    pdf_->setZoom(pdf_->zoom() / 1.25);
}
void ViewerPanel::nextPage() {
    pdf_->setPage(pdf_->currentPage() + 1);
}
void ViewerPanel::previousPage() {
    pdf_->setPage(pdf_->currentPage() - 1);
}
void ViewerPanel::focusFind() {
    find_->setFocus(Qt::ShortcutFocusReason);
    find_->selectAll();
}

void ViewerPanel::setSurpriseTints(const QHash<int, double>& pageTints,
                                   const QHash<int, double>& lineTints) {
    pageTints_ = pageTints;
    text_->setLineTints(lineTints);
    if (showingPdf()) pdf_->setPageTint(pageTints_.value(pdf_->currentPage(), -1.0));
}

}  // namespace lectern::ui
