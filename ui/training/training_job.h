// A training run off the GUI thread: the data export from the store, run preparation (new,
// fine-tune or resume, as `lectern-cli train` does) and ONE runTraining call whose progress
// hook (TrainOptions::onProgress) feeds the chart and honours Stop after the current
// optimizer step. Points reach the GUI in batches (at most ~10 a second, and at every
// validation), so a fast tiny model cannot flood the event loop. Stop leaves the trainer's
// checkpoint (Resume continues from it) and, written here, a loadable model in OUT.
#pragma once

#include <QFutureWatcher>
#include <QObject>
#include <QStringList>
#include <QVector>
#include <atomic>
#include <memory>

namespace lectern::ui {

struct TrainingRequest {
    QString storeDir, collection;  // the training text: the collection's stored documents
    QString baseModel;             // a model folder to fine-tune, or empty with newConfig
    QString newConfig;             // config.json of a new model (random init)
    QString outDir;                // checkpoints, metrics.jsonl, data/, the final model
    bool resume = false;           // continue from OUT's latest checkpoint
    int loraRank = 0;              // > 0: LoRA adapters of this rank (alpha = 2·rank)
    qint64 steps = 200, seqLen = 128, batch = 4;
    double lr = 3e-3;
    QString device = "cpu";  // "cpu" | "cuda" | "auto" (TrainOptions::device)
};

struct TrainingPoint {
    qint64 step = 0;
    double loss = 0, valLoss = 0;  // NaN where the step had none (skipped; no validation)
    double tokensPerSecond = 0;
};

struct TrainingOutcome {
    bool ok = false, stopped = false;
    QString message;  // the error, or a summary
    QString outDir;
    QString device;  // where the steps ran
    qint64 step = 0;
};

class TrainingJob : public QObject {
    Q_OBJECT
public:
    explicit TrainingJob(QObject* parent = nullptr);
    ~TrainingJob() override;
    bool start(const TrainingRequest& request);
    void stop();
    bool running() const;

signals:
    void points(const QVector<lectern::ui::TrainingPoint>& points);
    void progress(qint64 step, qint64 steps, double etaSeconds);
    void message(const QString& text);
    void finished(const lectern::ui::TrainingOutcome& outcome);

private:
    std::shared_ptr<std::atomic<bool>> stop_;
    QFutureWatcher<TrainingOutcome> watcher_;
};

}  // namespace lectern::ui
