// Training: pick the collection's text and a base model (or a new one from a config.json),
// full fine-tuning or LoRA adapters, steps and sequence length, the device (CPU, GPU or
// automatic; GPU greyed out with the reason where none is usable); Start, Stop and Resume;
// a live chart of training and validation loss (Qt Charts), tokens/s and ETA.
// A finished or stopped run's folder is a model the engine panel lists.
#pragma once

#include <QWidget>
#include <cmath>

#include "training/training_job.h"

class QChartView;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineSeries;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QValueAxis;

namespace lectern::ui {

class TrainingPanel : public QWidget {
    Q_OBJECT
public:
    explicit TrainingPanel(QWidget* parent = nullptr);

    void setStoreDir(const QString& storeDir) { storeDir_ = storeDir; }
    void setModelDir(const QString& modelDir);
    void setCollection(const QString& collection);
    // Sets the base to a new model from this config.json (the "New model" choice).
    void setNewModelConfig(const QString& configPath);
    void setSteps(int steps);
    void setSequenceLength(int seqLen);
    void setBatch(int batch);
    void setDevice(const QString& device);  // "cpu" | "cuda" | "auto"
    QString device() const;
    QString gpuUnavailableReason() const { return gpuReason_; }
    void start();
    void stop();
    void resume();

    TrainingJob* job() const { return job_; }
    int lossPoints() const;
    int validationPoints() const;
    QString statusText() const;
    QString lastOutDir() const { return outDir_; }

signals:
    void modelTrained(const QString& path);
    void throughputMeasured(double tokensPerSecond);

private:
    void buildChart();
    void refreshBases();
    void run(bool resume);
    void onPoints(const QVector<TrainingPoint>& points);
    void setGpuReason(const QString& reason);
    void onFinished(const TrainingOutcome& outcome);
    void setRunning(bool running);

    QString storeDir_, modelDir_, collection_, newConfig_, outDir_;
    TrainingJob* job_ = nullptr;
    QLabel* collectionLabel_ = nullptr;
    QComboBox* base_ = nullptr;
    QComboBox* mode_ = nullptr;
    QComboBox* device_ = nullptr;
    QString gpuReason_;
    QSpinBox *steps_ = nullptr, *seqLen_ = nullptr, *batch_ = nullptr;
    QDoubleSpinBox* lr_ = nullptr;
    QPushButton *start_ = nullptr, *stop_ = nullptr, *resume_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QLabel *speed_ = nullptr, *status_ = nullptr;
    QChartView* chart_ = nullptr;
    QLineSeries *loss_ = nullptr, *val_ = nullptr;
    QValueAxis *axisX_ = nullptr, *axisY_ = nullptr;
    double yMax_ = 0.0;
};

}  // namespace lectern::ui
