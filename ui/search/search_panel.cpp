// SearchPanel: the query runs on a worker; snippets come back with \x01/\x02 around matched
// words (markers that cannot occur in text), stripped for the plain result rows.
#include "search/search_panel.h"

#include <QFileInfo>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QTreeWidget>
#include <QVBoxLayout>

#include "async.h"
#include "library/library_reader.h"

namespace lectern::ui {
namespace {

enum Roles { TargetPage = Qt::UserRole, TargetLineStart, TargetLineEnd, TargetDocument };

QString plainSnippet(const std::string& snippet) {
    QString s = QString::fromStdString(snippet);
    s.remove(QChar(0x01)).remove(QChar(0x02));
    return s.simplified();
}

}  // namespace

QString hitReference(const store::SearchHit& hit) {
    if (hit.kind == ingest::SegmentKind::Page) return QObject::tr("page %1").arg(hit.ordinal);
    if (hit.lineStart > 0 && hit.lineEnd > hit.lineStart)
        return QObject::tr("lines %1–%2").arg(hit.lineStart).arg(hit.lineEnd);
    if (hit.lineStart > 0) return QObject::tr("line %1").arg(hit.lineStart);
    return QString::fromStdString(hit.label);
}

JumpTarget hitTarget(const store::SearchHit& hit, const QString& terms) {
    JumpTarget t;
    t.documentId = hit.documentId;
    if (hit.kind == ingest::SegmentKind::Page) t.page = int(hit.ordinal);
    t.lineStart = int(hit.lineStart);
    t.lineEnd = int(hit.lineEnd);
    t.terms = terms;
    return t;
}

SearchPanel::SearchPanel(QWidget* parent) : QWidget(parent) {
    query_ = new QLineEdit(this);
    query_->setPlaceholderText(tr("Search the collection (words, \"phrases\", prefix*)"));
    query_->setAccessibleName(tr("Search query"));
    query_->setClearButtonEnabled(true);
    results_ = new QTreeWidget(this);
    results_->setAccessibleName(tr("Search results"));
    results_->setColumnCount(3);
    results_->setHeaderLabels({tr("Document"), tr("Where"), tr("Passage")});
    results_->setRootIsDecorated(false);
    results_->setUniformRowHeights(true);
    results_->header()->setStretchLastSection(true);
    status_ = new QLabel(this);
    status_->setAccessibleName(tr("Search status"));
    status_->setWordWrap(true);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(query_);
    layout->addWidget(results_, 1);
    layout->addWidget(status_);
    connect(query_, &QLineEdit::returnPressed, this, [this] { search(query_->text()); });
    connect(results_, &QTreeWidget::itemActivated, this, [this](QTreeWidgetItem* item, int) {
        JumpTarget t;
        t.documentId = item->data(0, TargetDocument).toLongLong();
        t.page = item->data(0, TargetPage).toInt();
        t.lineStart = item->data(0, TargetLineStart).toInt();
        t.lineEnd = item->data(0, TargetLineEnd).toInt();
        t.terms = query_->text();
        emit hitActivated(t);
    });
}

QString SearchPanel::statusText() const {
    return status_->text();
}

void SearchPanel::focusQuery() {
    query_->setFocus(Qt::ShortcutFocusReason);
    query_->selectAll();
}

void SearchPanel::search(const QString& query) {
    if (query_->text() != query) query_->setText(query);
    results_->clear();
    if (query.trimmed().isEmpty()) return;
    if (collection_.isEmpty()) {
        status_->setText(tr("Choose a collection in the library first."));
        emit searchFinished(0);
        return;
    }
    status_->setText(tr("Searching…"));
    const QString dir = storeDir_, collection = collection_;
    const int generation = ++generation_;
    runAsync(
        this, [dir, collection, query] { return searchStore(dir, collection, query, 50); },
        [this, generation, query](Expected<std::vector<store::SearchHit>> hits) {
            if (generation != generation_) return;
            if (!hits) {
                status_->setText(tr("Search failed: %1").arg(QString::fromStdString(hits.error())));
                emit searchFinished(0);
                return;
            }
            for (const store::SearchHit& h : *hits) {
                auto* item = new QTreeWidgetItem(results_);
                item->setText(0, QFileInfo(QString::fromStdString(h.path)).fileName());
                item->setToolTip(0, QString::fromStdString(h.path));
                item->setText(1, hitReference(h) + (h.ocr ? tr(" (OCR)") : QString()));
                item->setText(2, plainSnippet(h.snippet));
                item->setToolTip(2, plainSnippet(h.snippet));
                const JumpTarget t = hitTarget(h, query);
                item->setData(0, TargetDocument, QVariant::fromValue<qlonglong>(t.documentId));
                item->setData(0, TargetPage, t.page);
                item->setData(0, TargetLineStart, t.lineStart);
                item->setData(0, TargetLineEnd, t.lineEnd);
            }
            results_->resizeColumnToContents(0);
            results_->resizeColumnToContents(1);
            status_->setText(hits->empty() ? tr("No passage matches.")
                                           : tr("%1 passages").arg(hits->size()));
            emit searchFinished(int(hits->size()));
        });
}

}  // namespace lectern::ui
