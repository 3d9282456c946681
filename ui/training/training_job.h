// A training run off the GUI thread. The trainer (training/trainer.h) has no progress
// callback or cancel flag, so the job drives it in short slices (TrainOptions::stopAfter):
// after each slice it reads the new lines of OUT/metrics.jsonl for the chart and checks
// the stop flag. Each slice ends with the trainer's own validation, checkpoint and model
// write, so Stop leaves a resumable checkpoint and a loadable model in OUT.
#pragma once

#include <QFutureWatcher>
#include <QObject>
#include <QStringList>
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
    double sliceSeconds = 1.0;  // how often the chart updates and Stop is honoured
};

struct TrainingOutcome {
    bool ok = false, stopped = false;
    QString message;  // the error, or a summary
    QString outDir;
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
    // valLoss is NaN where this step had no validation.
    void point(qint64 step, double loss, double valLoss, double tokensPerSecond);
    void progress(qint64 step, qint64 steps, double etaSeconds);
    void message(const QString& text);
    void finished(const lectern::ui::TrainingOutcome& outcome);

private:
    std::shared_ptr<std::atomic<bool>> stop_;
    QFutureWatcher<TrainingOutcome> watcher_;
};

}  // namespace lectern::ui
