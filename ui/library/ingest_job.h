// One ingest run off the GUI thread: runIngest on a QtConcurrent worker, its progress and
// commits delivered to the GUI thread as queued signals (coalesced: the latest of each,
// never a backlog), cancel through the pipeline's atomic flag (what was committed stays).
#pragma once

#include <QFutureWatcher>
#include <QObject>
#include <QStringList>
#include <atomic>
#include <memory>

#include "pipeline/pipeline.h"

namespace lectern::ui {

struct IngestOutcome {
    bool ok = false;
    QString error;  // the store could not be opened or written
    ingest::IngestSummary summary;
};

class IngestJob : public QObject {
    Q_OBJECT
public:
    explicit IngestJob(QObject* parent = nullptr);
    ~IngestJob() override;

    // False (and nothing started) when a run is still going.
    bool start(const QString& storeDir, const QString& collection, const QStringList& paths);
    void cancel();
    bool running() const;

signals:
    void progressed(qint64 filesDone, qint64 filesSeen, qint64 bytesRead, qint64 bytesToRead,
                    bool walkDone);
    // The latest committed document; others committed since the last signal are in the
    // store too (signals are coalesced while the GUI thread is busy).
    void documentCommitted(const QString& path, const QString& status);
    void finished(const lectern::ui::IngestOutcome& outcome);

private:
    std::shared_ptr<std::atomic<bool>> cancel_;
    QFutureWatcher<IngestOutcome> watcher_;
};

}  // namespace lectern::ui
