// The worker's callbacks only queue signals: no widget is touched off the GUI thread.
#include "library/ingest_job.h"

#include <QPointer>
#include <QThread>
#include <QtConcurrent>

namespace lectern::ui {

IngestJob::IngestJob(QObject* parent) : QObject(parent) {
    qRegisterMetaType<lectern::ui::IngestOutcome>("lectern::ui::IngestOutcome");
    connect(&watcher_, &QFutureWatcher<IngestOutcome>::finished, this,
            [this] { emit finished(watcher_.result()); });
}

IngestJob::~IngestJob() {
    // Leaving a worker running against a destroyed job would call into freed memory.
    cancel();
    watcher_.waitForFinished();
}

bool IngestJob::running() const {
    return watcher_.isRunning();
}

void IngestJob::cancel() {
    if (cancel_) cancel_->store(true);
}

bool IngestJob::start(const QString& storeDir, const QString& collection,
                      const QStringList& paths) {
    if (running()) return false;
    cancel_ = std::make_shared<std::atomic<bool>>(false);
    ingest::IngestOptions o;
    o.storeDir = storeDir.toStdString();
    o.collection = collection.toStdString();
    for (const QString& p : paths) o.paths.emplace_back(p.toStdString());
    o.cancel = cancel_.get();
    // Leave one core to the GUI thread: extraction saturating every core shows as stutter.
    o.extractThreads = qMax(1, QThread::idealThreadCount() - 1);
    QPointer<IngestJob> self(this);
    o.progress = [self](const ingest::IngestProgress& p) {
        if (!self) return;
        QMetaObject::invokeMethod(
            self,
            [self, p] {
                if (self)
                    emit self->progressed(p.filesDone, p.filesSeen, p.bytesRead, p.bytesToRead,
                                          p.walkDone);
            },
            Qt::QueuedConnection);
    };
    o.committed = [self](const ingest::CommittedDocument& d) {
        if (!self) return;
        const QString path = QString::fromStdString(d.path);
        const QString status = QString::fromStdString(d.status);
        QMetaObject::invokeMethod(
            self,
            [self, path, status] {
                if (self) emit self->documentCommitted(path, status);
            },
            Qt::QueuedConnection);
    };
    // The flag is kept alive by the lambda even if the job is replaced.
    auto flag = cancel_;
    watcher_.setFuture(QtConcurrent::run([o, flag]() {
        IngestOutcome out;
        auto summary = ingest::runIngest(o);
        if (!summary) {
            out.error = QString::fromStdString(summary.error());
            return out;
        }
        out.ok = true;
        out.summary = std::move(*summary);
        return out;
    }));
    return true;
}

}  // namespace lectern::ui
