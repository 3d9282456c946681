// The worker's callbacks only queue signals: no widget is touched off the GUI thread.
// They are coalesced: the worker keeps the latest progress and commit in a mailbox and
// queues a delivery only when none is pending, so a walk of thousands of small files costs
// the GUI thread one event per pass of its loop, not one per file.
#include "library/ingest_job.h"

#include <QPointer>
#include <QThread>
#include <QtConcurrent>
#include <mutex>

namespace lectern::ui {
namespace {

struct Mailbox {
    std::mutex mutex;
    ingest::IngestProgress progress;
    QString path, status;
    bool progressPending = false, commitPending = false;
};

}  // namespace

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
    auto box = std::make_shared<Mailbox>();
    o.progress = [self, box](const ingest::IngestProgress& p) {
        {
            std::lock_guard lock(box->mutex);
            box->progress = p;
            if (std::exchange(box->progressPending, true)) return;
        }
        if (!self) return;
        QMetaObject::invokeMethod(
            self,
            [self, box] {
                ingest::IngestProgress latest;
                {
                    std::lock_guard lock(box->mutex);
                    latest = box->progress;
                    box->progressPending = false;
                }
                if (self)
                    emit self->progressed(latest.filesDone, latest.filesSeen, latest.bytesRead,
                                          latest.bytesToRead, latest.walkDone);
            },
            Qt::QueuedConnection);
    };
    o.committed = [self, box](const ingest::CommittedDocument& d) {
        {
            std::lock_guard lock(box->mutex);
            box->path = QString::fromStdString(d.path);
            box->status = QString::fromStdString(d.status);
            if (std::exchange(box->commitPending, true)) return;
        }
        if (!self) return;
        QMetaObject::invokeMethod(
            self,
            [self, box] {
                QString path, status;
                {
                    std::lock_guard lock(box->mutex);
                    path = box->path;
                    status = box->status;
                    box->commitPending = false;
                }
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
