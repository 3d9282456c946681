// TrainingJob: data export from the store, run preparation (new, fine-tune or resume, as
// `lectern-cli train` does) and the sliced loop, all on the worker.
#include "training/training_job.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
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
    }
    run.texts = *texts;
    auto data = train::ByteDataStream::fromFiles(run.texts, o.valFraction, o.seed);
    if (!data) return data.status();
    run.data = std::move(*data);
    return Status::ok();
}

// New lines of metrics.jsonl since `offset`, as chart points.
void readMetrics(const QString& path, qint64& offset, const Emit& emitTo) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly) || !f.seek(offset)) return;
    while (!f.atEnd()) {
        const QByteArray line = f.readLine();
        if (!line.endsWith('\n')) break;  // a line still being written
        offset += line.size();
        const QJsonObject j = QJsonDocument::fromJson(line).object();
        if (j.isEmpty() || j.value("skipped").toBool()) continue;
        const qint64 step = j.value("step").toInteger();
        const double loss = j.value("loss").toDouble(NAN);
        const double val = j.contains("val_loss") ? j.value("val_loss").toDouble() : NAN;
        const double tps = j.value("tokens_per_s").toDouble();
        emitTo([=](TrainingJob* job) { emit job->point(step, loss, val, tps); });
    }
}

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
    train::TrainRun run;
    emitTo([](TrainingJob* job) { emit job->message(QObject::tr("Preparing the data…")); });
    if (Status st = prepare(r, o, run); !st) {
        out.message = QString::fromStdString(st.message());
        return out;
    }
    const QString metrics = r.outDir + "/metrics.jsonl";
    qint64 offset = QFileInfo(metrics).size();  // a resumed run's old lines are not replotted
    int64_t slice = 1;
    QElapsedTimer total;
    total.start();
    const int64_t firstStep = run.step;
    while (run.step < o.steps && !stop.load()) {
        QElapsedTimer t;
        t.start();
        o.stopAfter = std::min<int64_t>(slice, o.steps - run.step);
        auto rep = train::runTraining(run, o);
        if (!rep) {
            out.message = QString::fromStdString(rep.error());
            out.step = run.step;
            return out;
        }
        readMetrics(metrics, offset, emitTo);
        const double perStep = double(total.elapsed()) / 1000.0 / double(run.step - firstStep);
        const double eta = perStep * double(o.steps - run.step);
        const qint64 step = run.step, steps = o.steps;
        emitTo([=](TrainingJob* job) { emit job->progress(step, steps, eta); });
        // Aim each slice at sliceSeconds, whatever the model size.
        const double secs = std::max(1e-3, double(t.elapsed()) / 1000.0);
        slice = std::clamp<int64_t>(int64_t(double(slice) * r.sliceSeconds / secs), 1, 1000);
    }
    out.ok = true;
    out.step = run.step;
    out.stopped = run.step < o.steps;
    out.message =
        out.stopped
            ? QObject::tr("Stopped at step %1 of %2; Resume continues.").arg(run.step).arg(o.steps)
            : QObject::tr("Finished %1 steps.").arg(o.steps);
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
