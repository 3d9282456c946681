// Library panel: layout, actions and the glue between the ingest job, the store reads and
// the document table.
#include "library/library_panel.h"

#include <QComboBox>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QTimer>
#include <QVBoxLayout>

#include "async.h"
#include "library/document_table_model.h"
#include "library/library_reader.h"

namespace lectern::ui {

LibraryPanel::LibraryPanel(QWidget* parent) : QWidget(parent) {
    job_ = new IngestJob(this);
    buildUi();
    setAcceptDrops(true);
    connect(job_, &IngestJob::progressed, this,
            [this](qint64 done, qint64 seen, qint64 bytesRead, qint64 bytesToRead, bool walkDone) {
                // Bytes are the better measure once the walk knows them all; files before.
                if (walkDone && bytesToRead > 0) {
                    progress_->setRange(0, 1000);
                    progress_->setValue(int(1000.0 * double(bytesRead) / double(bytesToRead)));
                } else {
                    progress_->setRange(0, 0);
                }
                status_->setText(tr("Reading: %1 of %2 files done").arg(done).arg(seen));
            });
    // Documents appear as they are committed, at most a few reloads a second however many
    // documents a commit holds.
    reloadSoon_ = new QTimer(this);
    reloadSoon_->setSingleShot(true);
    reloadSoon_->setInterval(300);
    connect(reloadSoon_, &QTimer::timeout, this, &LibraryPanel::reloadDocuments);
    connect(job_, &IngestJob::documentCommitted, this, [this](const QString&, const QString&) {
        if (!reloadSoon_->isActive()) reloadSoon_->start();
    });
    connect(job_, &IngestJob::finished, this, &LibraryPanel::onIngestFinished);
}

void LibraryPanel::buildUi() {
    collections_ = new QComboBox(this);
    collections_->setAccessibleName(tr("Collection"));
    collections_->setMinimumContentsLength(16);
    newCollection_ = new QPushButton(tr("New…"), this);
    newCollection_->setAccessibleName(tr("New collection"));
    auto* top = new QHBoxLayout;
    auto* label = new QLabel(tr("&Collection:"), this);
    label->setBuddy(collections_);
    top->addWidget(label);
    top->addWidget(collections_, 1);
    top->addWidget(newCollection_);

    model_ = new DocumentTableModel(this);
    proxy_ = new QSortFilterProxyModel(this);
    proxy_->setSourceModel(model_);
    proxy_->setSortRole(DocumentTableModel::SortRole);
    table_ = new QTableView(this);
    table_->setModel(proxy_);
    table_->setAccessibleName(tr("Documents"));
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSortingEnabled(true);
    table_->sortByColumn(DocumentTableModel::Name, Qt::AscendingOrder);
    table_->verticalHeader()->hide();
    // The name takes the spare width; the other columns get fixed starting widths (no
    // ResizeToContents: it measures every row, a stall with thousands of documents).
    QHeaderView* header = table_->horizontalHeader();
    header->setStretchLastSection(false);
    header->setSectionResizeMode(QHeaderView::Interactive);
    header->setSectionResizeMode(DocumentTableModel::Name, QHeaderView::Stretch);
    header->resizeSection(DocumentTableModel::Kind, 60);
    header->resizeSection(DocumentTableModel::Status, 72);
    header->resizeSection(DocumentTableModel::Size, 64);
    header->resizeSection(DocumentTableModel::Extent, 100);
    table_->setColumnHidden(DocumentTableModel::Path, true);
    table_->setWordWrap(false);

    addFiles_ = new QPushButton(tr("Add files…"), this);
    addFolder_ = new QPushButton(tr("Add folder or repository…"), this);
    reingest_ = new QPushButton(tr("Re-ingest"), this);
    remove_ = new QPushButton(tr("Remove"), this);
    for (QPushButton* b : {addFiles_, addFolder_, reingest_, remove_})
        b->setAccessibleName(b->text().remove(QChar(0x2026)));
    auto* actions = new QHBoxLayout;
    actions->addWidget(addFiles_);
    actions->addWidget(addFolder_);
    actions->addStretch(1);
    actions->addWidget(reingest_);
    actions->addWidget(remove_);

    progress_ = new QProgressBar(this);
    progress_->setAccessibleName(tr("Ingest progress"));
    progress_->setVisible(false);
    cancel_ = new QPushButton(tr("Cancel"), this);
    cancel_->setAccessibleName(tr("Cancel ingest"));
    cancel_->setVisible(false);
    status_ = new QLabel(this);
    status_->setAccessibleName(tr("Library status"));
    status_->setWordWrap(true);
    status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto* bottom = new QHBoxLayout;
    bottom->addWidget(progress_, 1);
    bottom->addWidget(cancel_);

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(table_, 1);
    layout->addLayout(actions);
    layout->addLayout(bottom);
    layout->addWidget(status_);

    connect(collections_, &QComboBox::currentTextChanged, this, [this](const QString& name) {
        summary_.clear();
        reloadDocuments();
        emit collectionChanged(name);
    });
    connect(newCollection_, &QPushButton::clicked, this, &LibraryPanel::newCollection);
    connect(addFiles_, &QPushButton::clicked, this, &LibraryPanel::addFiles);
    connect(addFolder_, &QPushButton::clicked, this, &LibraryPanel::addFolder);
    connect(reingest_, &QPushButton::clicked, this, &LibraryPanel::reingestSelected);
    connect(remove_, &QPushButton::clicked, this, &LibraryPanel::removeSelected);
    connect(cancel_, &QPushButton::clicked, this, &LibraryPanel::cancelIngest);
    connect(table_, &QTableView::activated, this, [this](const QModelIndex& index) {
        emit documentActivated(index.data(DocumentTableModel::DocumentIdRole).toLongLong());
    });
}

void LibraryPanel::setStoreDir(const QString& storeDir) {
    if (storeDir == storeDir_) return;
    storeDir_ = storeDir;
    collections_->clear();  // another store: its own collections
    refresh();
}

QString LibraryPanel::currentCollection() const {
    return collections_->currentText();
}

void LibraryPanel::setCurrentCollection(const QString& name) {
    if (name.isEmpty()) return;
    if (collections_->findText(name) < 0) collections_->addItem(name);
    collections_->setCurrentText(name);
}

QString LibraryPanel::statusText() const {
    return status_->text();
}

void LibraryPanel::refresh() {
    const QString dir = storeDir_;
    runAsync(
        this, [dir] { return readCollections(dir); },
        [this](Expected<QStringList> names) {
            if (!names) {
                status_->setText(
                    tr("Cannot open the store: %1").arg(QString::fromStdString(names.error())));
                return;
            }
            // The collection chosen meanwhile (settings, New…) stays chosen even if it has
            // no documents yet.
            const QString wanted = currentCollection();
            QSignalBlocker block(collections_);
            QStringList all = *names;
            if (!wanted.isEmpty() && !all.contains(wanted)) all << wanted;
            collections_->clear();
            collections_->addItems(all);
            if (!wanted.isEmpty()) collections_->setCurrentText(wanted);
            reloadDocuments();
            emit collectionChanged(currentCollection());
        });
}

void LibraryPanel::reloadDocuments() {
    const QString dir = storeDir_, collection = currentCollection();
    const int generation = ++readGeneration_;
    if (collection.isEmpty()) {
        model_->setDocuments({});
        status_->setText(tr("No collection yet: choose New… or drop files here."));
        emit documentsReloaded();
        return;
    }
    runAsync(
        this, [dir, collection] { return readDocuments(dir, collection); },
        [this, generation](Expected<std::vector<store::DocumentInfo>> docs) {
            if (generation != readGeneration_) return;
            if (!docs) {
                status_->setText(
                    tr("Cannot read the collection: %1").arg(QString::fromStdString(docs.error())));
                model_->setDocuments({});
            } else {
                model_->setDocuments(std::move(*docs));
                if (!job_->running()) {
                    int failed = 0;
                    for (int r = 0; r < model_->rowCount(); ++r)
                        failed += model_->document(r)->status != store::kStatusOk;
                    const QString counts = failed ? tr("%1 documents, %2 not fully read")
                                                        .arg(model_->rowCount())
                                                        .arg(failed)
                                                  : tr("%1 documents").arg(model_->rowCount());
                    status_->setText(summary_.isEmpty() ? counts : summary_ + "\n" + counts);
                }
            }
            emit documentsReloaded();
        });
}

bool LibraryPanel::ingestPaths(const QStringList& paths) {
    if (paths.isEmpty()) return false;
    if (currentCollection().isEmpty()) {
        status_->setText(tr("Choose or create a collection first."));
        return false;
    }
    if (!job_->start(storeDir_, currentCollection(), paths)) {
        status_->setText(tr("An ingest is already running; wait for it or cancel it."));
        return false;
    }
    setBusy(true);
    status_->setText(tr("Reading %n path(s)…", nullptr, int(paths.size())));
    return true;
}

void LibraryPanel::cancelIngest() {
    job_->cancel();
    status_->setText(tr("Cancelling… (what was read so far is kept)"));
}

void LibraryPanel::onIngestFinished(const IngestOutcome& outcome) {
    setBusy(false);
    if (!outcome.ok) {
        summary_ = tr("Ingest failed: %1").arg(outcome.error);
        status_->setText(summary_);
    } else {
        const ingest::IngestSummary& s = outcome.summary;
        QString text = tr("%1: %2 added, %3 updated, %4 unchanged, %5 failed (%6 s)")
                           .arg(s.cancelled ? tr("Cancelled") : tr("Done"))
                           .arg(s.added)
                           .arg(s.updated)
                           .arg(s.unchanged)
                           .arg(s.failed)
                           .arg(s.seconds, 0, 'f', 1);
        for (const std::string& e : s.rootErrors) text += "\n" + QString::fromStdString(e);
        summary_ = text;
        status_->setText(text);
    }
    refresh();
    emit ingestFinished(outcome.ok);
}

void LibraryPanel::setBusy(bool busy) {
    progress_->setVisible(busy);
    cancel_->setVisible(busy);
    progress_->setRange(0, 0);
    for (QPushButton* b : {addFiles_, addFolder_, reingest_, remove_, newCollection_})
        b->setEnabled(!busy);
    collections_->setEnabled(!busy);
}

void LibraryPanel::newCollection() {
    bool ok = false;
    const QString name = QInputDialog::getText(this, tr("New collection"), tr("Name:"),
                                               QLineEdit::Normal, QString(), &ok)
                             .trimmed();
    if (!ok || name.isEmpty()) return;
    setCurrentCollection(name);
}

void LibraryPanel::addFiles() {
    const QStringList files = QFileDialog::getOpenFileNames(this, tr("Add files"));
    ingestPaths(files);
}

void LibraryPanel::addFolder() {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Add folder or repository"));
    if (!dir.isEmpty()) ingestPaths({dir});
}

std::vector<int64_t> LibraryPanel::selectedIds() const {
    std::vector<int64_t> ids;
    for (const QModelIndex& i : table_->selectionModel()->selectedRows())
        ids.push_back(i.data(DocumentTableModel::DocumentIdRole).toLongLong());
    return ids;
}

QStringList LibraryPanel::selectedPaths() const {
    QStringList paths;
    for (const QModelIndex& i : table_->selectionModel()->selectedRows(DocumentTableModel::Path))
        paths << i.data().toString();
    return paths;
}

void LibraryPanel::reingestSelected() {
    const QStringList paths = selectedPaths();
    if (paths.isEmpty()) {
        status_->setText(tr("Select the documents to read again."));
        return;
    }
    ingestPaths(paths);
}

void LibraryPanel::removeSelected() {
    const std::vector<int64_t> ids = selectedIds();
    if (ids.empty()) {
        status_->setText(tr("Select the documents to remove."));
        return;
    }
    const QString dir = storeDir_;
    runAsync(
        this, [dir, ids] { return removeDocuments(dir, ids); },
        [this, ids](Status st) {
            status_->setText(
                st ? tr("Removed %1 documents (their files are untouched)").arg(ids.size())
                   : tr("Could not remove: %1").arg(QString::fromStdString(st.message())));
            reloadDocuments();
        });
}

void LibraryPanel::dragEnterEvent(QDragEnterEvent* event) {
    if (event->mimeData()->hasUrls() && !job_->running()) event->acceptProposedAction();
}

void LibraryPanel::dropEvent(QDropEvent* event) {
    QStringList paths;
    for (const QUrl& url : event->mimeData()->urls())
        if (url.isLocalFile()) paths << url.toLocalFile();
    if (!paths.isEmpty() && ingestPaths(paths)) event->acceptProposedAction();
}

}  // namespace lectern::ui
