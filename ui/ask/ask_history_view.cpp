// AskHistoryView: the list reads and clears through runAsync (ask_history_io.h).
#include "ask/ask_history_view.h"

#include <QDateTime>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QVBoxLayout>

#include "ask/ask_history_io.h"
#include "async.h"

namespace lectern::ui {

AskHistoryView::AskHistoryView(QWidget* parent) : QWidget(parent) {
    label_ = new QLabel(tr("Earlier questions:"), this);
    label_->setWordWrap(true);
    list_ = new QListWidget(this);
    list_->setAccessibleName(tr("Question history"));
    list_->setTextElideMode(Qt::ElideRight);
    clear_ = new QPushButton(tr("Clear history"), this);
    clear_->setAccessibleName(tr("Clear history"));
    clear_->setEnabled(false);
    auto* top = new QHBoxLayout;
    top->addWidget(label_, 1);
    top->addWidget(clear_);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(top);
    layout->addWidget(list_, 1);
    connect(clear_, &QPushButton::clicked, this, &AskHistoryView::clear);
    connect(list_, &QListWidget::itemActivated, this, [this](QListWidgetItem* item) {
        if (const store::AskRecord* r = record(list_->row(item))) emit recordActivated(*r);
    });
}

void AskHistoryView::setScope(const QString& storeDir, const QString& collection,
                              int64_t documentId, const QString& documentName) {
    storeDir_ = storeDir;
    collection_ = collection;
    documentId_ = documentId;
    documentName_ = documentName;
    label_->setText(documentId > 0 ? tr("Earlier questions about %1:").arg(documentName)
                                   : tr("Earlier questions in %1:").arg(collection));
    reload();
}

void AskHistoryView::reload() {
    const int generation = ++generation_;
    records_.clear();
    list_->clear();
    clear_->setEnabled(false);
    loading_ = false;
    if (collection_.isEmpty() || storeDir_.isEmpty()) {
        emit loaded(true);
        return;
    }
    loading_ = true;
    const QString dir = storeDir_, collection = collection_;
    const int64_t doc = documentId_;
    runAsync(
        this, [dir, collection, doc] { return readAskHistory(dir, collection, doc); },
        [this, generation](Expected<std::vector<store::AskRecord>> rows) {
            if (generation != generation_) return;
            loading_ = false;
            if (!rows) {
                label_->setText(tr("The history could not be read: %1")
                                    .arg(QString::fromStdString(rows.error())));
                emit loaded(false);
                return;
            }
            show(std::move(*rows));
            emit loaded(true);
        });
}

void AskHistoryView::show(std::vector<store::AskRecord> records) {
    records_ = std::move(records);
    list_->clear();
    for (const store::AskRecord& r : records_) {
        auto* item = new QListWidgetItem(itemText(r), list_);
        item->setToolTip(QString::fromStdString(r.answer).left(600));
    }
    clear_->setEnabled(!records_.empty());
}

void AskHistoryView::prepend(const store::AskRecord& record) {
    if (loading_) {  // the read under way may or may not see it: read again
        reload();
        return;
    }
    records_.insert(records_.begin(), record);
    auto* item = new QListWidgetItem(itemText(record));
    item->setToolTip(QString::fromStdString(record.answer).left(600));
    list_->insertItem(0, item);
    clear_->setEnabled(true);
}

void AskHistoryView::clear() {
    const QString dir = storeDir_, collection = collection_;
    const int64_t doc = documentId_;
    const int generation = ++generation_;
    loading_ = false;
    clear_->setEnabled(false);
    runAsync(
        this, [dir, collection, doc] { return clearAskHistory(dir, collection, doc); },
        [this, generation](Expected<int64_t> removed) {
            if (!removed) {
                label_->setText(tr("The history could not be cleared: %1")
                                    .arg(QString::fromStdString(removed.error())));
                clear_->setEnabled(!records_.empty());
                emit cleared(false);
                return;
            }
            if (generation == generation_) {
                records_.clear();
                list_->clear();
            }
            emit cleared(true);
        });
}

int AskHistoryView::count() const {
    return int(records_.size());
}

const store::AskRecord* AskHistoryView::record(int row) const {
    return row >= 0 && row < int(records_.size()) ? &records_[size_t(row)] : nullptr;
}

// "When may … terminate?  · services-agreement.pdf, as of page 2 · 14:02"
QString AskHistoryView::itemText(const store::AskRecord& r) const {
    QStringList where;
    if (documentId_ < 0 && r.documentId > 0 && !r.passages.empty())
        where << QFileInfo(QString::fromStdString(r.passages.front().path)).fileName();
    else if (documentId_ < 0 && r.documentId > 0)
        where << tr("a document");
    if (r.asOfPage > 0) where << tr("as of page %1").arg(r.asOfPage);
    const QDateTime when = QDateTime::fromSecsSinceEpoch(r.askedAt);
    where << (when.date() == QDate::currentDate() ? when.toString("HH:mm")
                                                  : when.toString("yyyy-MM-dd HH:mm"));
    return QString::fromStdString(r.question) + QStringLiteral("  · ") + where.join(", ");
}

}  // namespace lectern::ui
