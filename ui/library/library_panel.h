// The library: collections and their documents (status, size, pages, errors in the row),
// adding files, folders and repositories by dialog or drag-and-drop, re-ingest and remove,
// with the running ingest's progress and a Cancel button. Store reads and ingest runs
// happen on worker threads; this widget only shows their results.
#pragma once

#include <QWidget>

#include "library/ingest_job.h"

class QComboBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QSortFilterProxyModel;
class QTableView;
class QTimer;

namespace lectern::ui {

class DocumentTableModel;

class LibraryPanel : public QWidget {
    Q_OBJECT
public:
    explicit LibraryPanel(QWidget* parent = nullptr);

    void setStoreDir(const QString& storeDir);
    QString storeDir() const { return storeDir_; }
    QString currentCollection() const;
    void setCurrentCollection(const QString& name);
    // Ingests paths (files, folders, repositories) into the current collection.
    bool ingestPaths(const QStringList& paths);
    void cancelIngest();
    void addFiles();   // file dialog, then ingest
    void addFolder();  // folder dialog (a folder or a repository), then ingest
    void refresh();    // re-reads collections and documents

    DocumentTableModel* documentModel() const { return model_; }
    QTableView* table() const { return table_; }
    IngestJob* ingestJob() const { return job_; }
    QString statusText() const;

signals:
    void collectionChanged(const QString& collection);
    void documentActivated(qint64 documentId);
    void documentsReloaded();
    void ingestFinished(bool ok);

protected:
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void buildUi();
    void newCollection();
    void reingestSelected();
    void removeSelected();
    void reloadDocuments();
    void onIngestFinished(const IngestOutcome& outcome);
    std::vector<int64_t> selectedIds() const;
    QStringList selectedPaths() const;
    void setBusy(bool busy);

    QString storeDir_;
    QComboBox* collections_ = nullptr;
    QTableView* table_ = nullptr;
    DocumentTableModel* model_ = nullptr;
    QSortFilterProxyModel* proxy_ = nullptr;
    QPushButton *addFiles_ = nullptr, *addFolder_ = nullptr, *newCollection_ = nullptr;
    QPushButton *reingest_ = nullptr, *remove_ = nullptr, *cancel_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QLabel* status_ = nullptr;
    IngestJob* job_ = nullptr;
    QTimer* reloadSoon_ = nullptr;  // coalesces reloads while documents are being committed
    QString summary_;               // the last ingest's outcome, kept above the counts
    int readGeneration_ = 0;        // drops results of reads overtaken by a newer one
};

}  // namespace lectern::ui
