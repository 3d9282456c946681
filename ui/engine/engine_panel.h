// The engine: which device computes (GPU name and memory, or the CPU), the loaded model
// and its size, the document states cached per tier, and recent throughput; the user
// switches model or device here. Loading runs on a worker; a model that fails to load
// says why in the panel.
#pragma once

#include <QWidget>
#include <memory>

#include "lectern/engine.h"

class QComboBox;
class QLabel;
class QPushButton;
class QTreeWidget;

namespace lectern::ui {

using ModelPtr = std::shared_ptr<const Model>;

class EnginePanel : public QWidget {
    Q_OBJECT
public:
    explicit EnginePanel(QWidget* parent = nullptr);

    void setModelDir(const QString& modelDir);
    void setDevice(const QString& device);  // cpu | cuda | auto
    QString device() const;
    // Loads the model folder on a worker; modelLoaded or loadFailed follows.
    void loadModel(const QString& path);
    void refreshModels();
    ModelPtr model() const { return model_; }
    QString modelPath() const { return modelPath_; }
    QString errorText() const;
    // "ask: 42 tokens/s" lines, newest first, shown under Recent throughput.
    void recordThroughput(const QString& what, double tokensPerSecond);
    // Per-tier lines from the state cache, or a reason it is not available.
    void setCacheTiers(const QStringList& lines);

signals:
    void modelLoaded(lectern::ui::ModelPtr model, const QString& path);
    void loadFailed(const QString& error);
    void deviceChanged(const QString& device);

private:
    void showModelInfo();
    QString describeDevice() const;

    QString modelDir_, modelPath_;
    ModelPtr model_;
    QLabel* deviceInfo_ = nullptr;
    QComboBox* device_ = nullptr;
    QComboBox* models_ = nullptr;
    QPushButton* load_ = nullptr;
    QPushButton* browse_ = nullptr;
    QLabel* modelInfo_ = nullptr;
    QLabel* error_ = nullptr;
    QLabel* cache_ = nullptr;
    QTreeWidget* throughput_ = nullptr;
    int generation_ = 0;
};

}  // namespace lectern::ui

Q_DECLARE_METATYPE(lectern::ui::ModelPtr)
