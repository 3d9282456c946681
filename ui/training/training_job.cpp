// TrainingJob: data export from the store, run preparation (new, fine-tune or resume, as
// `lectern-cli train` does) and one runTraining call with a progress hook, all on a worker.
#include "training/training_job.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QPointer>
#include <QtConcurrent>
#include <algorithm>
#include <cmath>

#include "library/library_reader.h"
#include "training/checkpoint.h"
#include "training/lora/lora.h"
#include "training/trainer.h"

namespace lectern::ui {
namespace {

using Emit = std::function<void(std::function<void(TrainingJob*)>)>;

// The collection's stored text (what ingest extracted), one file per document, so the
// checkpoint names files a resumed run can read again.
Expected<std::vector<std::string>> exportCollection(const TrainingRequest& r) {
    auto docs = readDocuments(r.storeDir, r.collection);
    if (!docs) return docs.status();
    const QString dataDir = r.outDir + "/data";
    if (!QDir().mkpath(dataDir)) return Status::error(dataDir.toStdString() + ": cannot create");
    std::vector<std::string> files;
    for (const store::DocumentInfo& d : *docs) {
        if (d.status != store::kStatusOk && d.status != store::kStatusPartial) continue;
        auto segments = readSegments(r.storeDir, d.id);
        if (!segments) return segments.status();
        const QString file = QStringLiteral("%1/doc-%2.txt").arg(dataDir).arg(d.id);
        QFile f(file);
        if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate))
            return Status::error(file.toStdString() + ": " + f.errorString().toStdString());
        for (const ingest::Segment& s : *segments) f.write(s.text.data(), qint64(s.text.size()));
        if (f.size() > 0) files.push_back(file.toStdString());
    }
    if (files.empty())
        return Status::error("collection \"" + r.collection.toStdString() +
                             "\" has no readable documents to train on");
    return files;
}

Status prepare(const TrainingRequest& r, train::TrainOptions& o, train::TrainRun& run) {
    if (r.resume) {
        auto c = train::checkpointRead(r.outDir.toStdString());
        if (!c) return c.status();
        run.model = std::move(c->model);
        run.opt = std::move(c->opt);
        if (Status st = train::applyTrainerState(c->trainerStateJson, o, run, true); !st)
            return st.withContext(c->dir);
        if (train::loraPresent(c->dir)) {
            auto lora = train::loraRead(c->dir, run.model.cfg);
            if (!lora) return lora.status();
            run.lora = std::move(*lora);
        }
        const std::string position = run.data.saveState();
        auto data = train::ByteDataStream::fromFiles(run.texts, o.valFraction, o.seed);
        if (!data) return data.status();
        run.data = std::move(*data);
        return run.data.loadState(position);
    }
    auto texts = exportCollection(r);
    if (!texts) return texts.status();
    auto m = r.baseModel.isEmpty() ? train::newTrainModel(r.newConfig.toStdString(), o.seed)
                                   : train::loadTrainModel(r.baseModel.toStdString());
    if (!m) return m.status();
    run.model = std::move(*m);
    run.opt = train::adamwInit(run.model.cfg);
    if (r.loraRank > 0) {
        if (r.baseModel.isEmpty())
            return Status::error("LoRA fine-tunes a base model, not a new one");
        train::LoraConfig lc;
        lc.rank = r.loraRank;
        lc.alpha = 2.0 * r.loraRank;
        auto lora = train::loraInit(run.model.cfg, lc, o.seed);
        if (!lora) return lora.status();
        run.lora = std::move(*lora);
        // Checkpoints name the base (and the hash of its weights) instead of copying it.
        auto ref = train::loraBaseRef(r.baseModel.toStdString());
        if (!ref) return ref.status();
        run.loraBase = std::move(*ref);
    }
    run.texts = *texts;
    auto data = train::ByteDataStream::fromFiles(run.texts, o.valFraction, o.seed);
    if (!data) return data.status();
    run.data = std::move(*data);
    return Status::ok();
}

// A stopped run's weights as a model folder in OUT (the trainer writes one only when it
// finishes), so what a user stopped is still a model the engine panel loads: the trained
// model, or for LoRA the merged one plus the adapters, as the trainer's final write does.
Status writeStoppedModel(train::TrainRun& run, const std::string& outDir) {
    if (!run.lora) return train::writeModelDir(outDir, run.model);
    model::ModelWeights merged;
    train::loraMerge(run.model.cfg, run.model.w, *run.lora, merged);
    train::TrainModel out{run.model.cfg, std::move(merged), run.model.configText};
    if (Status st = train::writeModelDir(outDir, out); !st) return st;
    return train::loraWrite(outDir, *run.lora, false);
}

// Collects the hook's points and hands them to the GUI in batches.
class PointBatcher {
public:
    explicit PointBatcher(const Emit& emitTo) : emitTo_(emitTo) { sinceFlush_.start(); }
    void add(const train::TrainProgress& p) {
        pending_.push_back({p.step, p.loss, p.valLoss, p.tokensPerSecond});
        step_ = p.step;
        steps_ = p.steps;
        eta_ = p.etaSeconds;
        if (std::isfinite(p.valLoss) || p.step >= p.steps || sinceFlush_.elapsed() >= 100) flush();
    }
    void flush() {
        sinceFlush_.restart();
        if (pending_.isEmpty()) return;
        const QVector<TrainingPoint> batch = std::exchange(pending_, {});
        const qint64 step = step_, steps = steps_;
        const double eta = eta_;
        emitTo_([=](TrainingJob* job) {
            emit job->points(batch);
            emit job->progress(step, steps, eta);
        });
    }

private:
    const Emit& emitTo_;
    QElapsedTimer sinceFlush_;
    QVector<TrainingPoint> pending_;
    qint64 step_ = 0, steps_ = 0;
    double eta_ = 0;
};

TrainingOutcome runJob(const TrainingRequest& r, const std::atomic<bool>& stop,
                       const Emit& emitTo) {
    TrainingOutcome out;
    out.outDir = r.outDir;
    train::TrainOptions o;
    o.steps = r.steps;
    o.seqLen = r.seqLen;
    o.batch = r.batch;
    o.lr = r.lr;
    o.warmup = std::min<int64_t>(o.warmup, std::max<int64_t>(1, r.steps / 10));
    o.outDir = r.outDir.toStdString();
    o.progress = false;
    o.device = r.device.toStdString();
    train::TrainRun run;
    emitTo([](TrainingJob* job) { emit job->message(QObject::tr("Preparing the data…")); });
    if (Status st = prepare(r, o, run); !st) {
        out.message = QString::fromStdString(st.message());
        return out;
    }
    if (stop.load()) {  // stopped while the data was exported
        out.stopped = true;
        out.message = QObject::tr("Stopped before the first step.");
        return out;
    }
    PointBatcher batcher(emitTo);
    o.onProgress = [&](const train::TrainProgress& p) {
        batcher.add(p);
        return !stop.load();
    };
    auto rep = train::runTraining(run, o);
    batcher.flush();
    out.step = run.step;
    if (!rep) {
        out.message = QString::fromStdString(rep.error());
        return out;
    }
    out.device = QString::fromStdString(rep->device);
    out.stopped = rep->cancelled;
    if (out.stopped) {
        if (Status st = writeStoppedModel(run, o.outDir); !st) {
            out.message = QObject::tr("Stopped at step %1, but the model could not be written: %2")
                              .arg(run.step)
                              .arg(QString::fromStdString(st.message()));
            return out;
        }
    }
    out.ok = true;
    out.message =
        out.stopped
            ? QObject::tr("Stopped at step %1 of %2 on the %3; Resume continues.")
                  .arg(run.step)
                  .arg(o.steps)
                  .arg(out.device.toUpper())
            : QObject::tr("Finished %1 steps on the %2.").arg(o.steps).arg(out.device.toUpper());
    return out;
}

}  // namespace

TrainingJob::TrainingJob(QObject* parent) : QObject(parent) {
    qRegisterMetaType<lectern::ui::TrainingOutcome>("lectern::ui::TrainingOutcome");
    connect(&watcher_, &QFutureWatcher<TrainingOutcome>::finished, this,
            [this] { emit finished(watcher_.result()); });
}

TrainingJob::~TrainingJob() {
    stop();
    watcher_.waitForFinished();
}

bool TrainingJob::running() const {
    return watcher_.isRunning();
}

void TrainingJob::stop() {
    if (stop_) stop_->store(true);
}

bool TrainingJob::start(const TrainingRequest& request) {
    if (running()) return false;
    stop_ = std::make_shared<std::atomic<bool>>(false);
    QPointer<TrainingJob> self(this);
    Emit emitTo = [self](std::function<void(TrainingJob*)> f) {
        if (!self) return;
        QMetaObject::invokeMethod(
            self,
            [self, f] {
                if (self) f(self);
            },
            Qt::QueuedConnection);
    };
    auto flag = stop_;
    watcher_.setFuture(
        QtConcurrent::run([request, flag, emitTo] { return runJob(request, *flag, emitTo); }));
    return true;
}

}  // namespace lectern::ui
