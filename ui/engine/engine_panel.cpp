// EnginePanel: device probing and model loading off the GUI thread; the panel shows what
// the engine reports (ModelInfo) and nothing it did not measure.
#include "engine/engine_panel.h"

#include <QComboBox>
#include <QDateTime>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QPushButton>
#include <QThread>
#include <QTreeWidget>
#include <QVBoxLayout>

#include "async.h"
#include "engine/model_catalog.h"
#include "lectern/version.h"
#include "library/document_table_model.h"

#if LECTERN_HAVE_CUDA
#include "cuda/cuda_context.h"
#endif

namespace lectern::ui {
namespace {

DeviceKind deviceKind(const QString& name) {
    if (name == "cuda") return DeviceKind::Cuda;
    if (name == "auto") return DeviceKind::Auto;
    return DeviceKind::Cpu;
}

struct LoadResult {
    ModelPtr model;
    QString error;
};

}  // namespace

EnginePanel::EnginePanel(QWidget* parent) : QWidget(parent) {
    qRegisterMetaType<lectern::ui::ModelPtr>("lectern::ui::ModelPtr");
    device_ = new QComboBox(this);
    device_->addItem(tr("Automatic (GPU if usable)"), "auto");
    device_->addItem(tr("CPU"), "cpu");
    device_->addItem(tr("GPU (CUDA)"), "cuda");
    device_->setAccessibleName(tr("Compute device"));
    deviceInfo_ = new QLabel(this);
    deviceInfo_->setWordWrap(true);
    deviceInfo_->setAccessibleName(tr("Device details"));
    models_ = new QComboBox(this);
    models_->setAccessibleName(tr("Model"));
    models_->setMinimumContentsLength(20);
    load_ = new QPushButton(tr("Load"), this);
    load_->setAccessibleName(tr("Load model"));
    browse_ = new QPushButton(tr("Other folder…"), this);
    browse_->setAccessibleName(tr("Load a model from another folder"));
    modelInfo_ = new QLabel(tr("No model loaded."), this);
    modelInfo_->setWordWrap(true);
    modelInfo_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    modelInfo_->setAccessibleName(tr("Model details"));
    error_ = new QLabel(this);
    error_->setWordWrap(true);
    error_->setStyleSheet("color: #c0392b");
    error_->setAccessibleName(tr("Model error"));
    error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    cache_ = new QLabel(this);
    cache_->setWordWrap(true);
    cache_->setAccessibleName(tr("Cached states"));
    throughput_ = new QTreeWidget(this);
    throughput_->setAccessibleName(tr("Recent throughput"));
    throughput_->setHeaderLabels({tr("When"), tr("What"), tr("Tokens/s")});
    throughput_->setRootIsDecorated(false);
    throughput_->header()->setStretchLastSection(false);
    throughput_->header()->setSectionResizeMode(1, QHeaderView::Stretch);

    auto* deviceBox = new QGroupBox(tr("Device"), this);
    auto* deviceForm = new QFormLayout(deviceBox);
    deviceForm->addRow(tr("Run on:"), device_);
    deviceForm->addRow(deviceInfo_);
    auto* modelBox = new QGroupBox(tr("Model"), this);
    auto* modelLayout = new QVBoxLayout(modelBox);
    auto* row = new QHBoxLayout;
    row->addWidget(models_, 1);
    row->addWidget(load_);
    row->addWidget(browse_);
    modelLayout->addLayout(row);
    modelLayout->addWidget(modelInfo_);
    modelLayout->addWidget(error_);
    auto* cacheBox = new QGroupBox(tr("Cached document states"), this);
    (new QVBoxLayout(cacheBox))->addWidget(cache_);
    auto* speedBox = new QGroupBox(tr("Recent throughput"), this);
    (new QVBoxLayout(speedBox))->addWidget(throughput_);

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(deviceBox);
    layout->addWidget(modelBox);
    layout->addWidget(cacheBox);
    layout->addWidget(speedBox, 1);

    deviceInfo_->setText(describeDevice());
    setCacheTiers({});
    connect(device_, &QComboBox::currentIndexChanged, this, [this] {
        deviceInfo_->setText(describeDevice());
        emit deviceChanged(device());
    });
    connect(load_, &QPushButton::clicked, this, [this] {
        if (models_->currentIndex() >= 0) loadModel(models_->currentData().toString());
    });
    connect(browse_, &QPushButton::clicked, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Model folder"), modelDir_);
        if (!dir.isEmpty()) loadModel(dir);
    });
}

QString EnginePanel::describeDevice() const {
    const QString cpu = tr("CPU: %1 hardware threads").arg(QThread::idealThreadCount());
    if (!kBuiltWithCuda) {
        return device() == "cuda"
                   ? tr("This build has no CUDA backend; loading will fail. %1").arg(cpu)
                   : cpu + tr(" (this build has no CUDA backend)");
    }
#if LECTERN_HAVE_CUDA
    auto info = cuda::probeDevice(0);
    if (!info) return tr("No usable GPU: %1. %2").arg(QString::fromStdString(info.error()), cpu);
    return tr("GPU: %1, %2 free of %3. %4")
        .arg(QString::fromStdString(info->name), formatBytes(int64_t(info->freeBytes)),
             formatBytes(int64_t(info->totalBytes)), cpu);
#else
    return cpu;
#endif
}

void EnginePanel::setModelDir(const QString& modelDir) {
    modelDir_ = modelDir;
    refreshModels();
}

void EnginePanel::refreshModels() {
    const QString current = models_->currentData().toString();
    QSignalBlocker block(models_);
    models_->clear();
    for (const ModelEntry& e : findModels(modelDir_)) models_->addItem(e.name, e.path);
    if (models_->count() == 0) models_->addItem(tr("(no model in %1)").arg(modelDir_), QString());
    const int keep = models_->findData(current.isEmpty() ? modelPath_ : current);
    if (keep >= 0) models_->setCurrentIndex(keep);
}

void EnginePanel::setDevice(const QString& device) {
    const int i = device_->findData(device);
    if (i >= 0) device_->setCurrentIndex(i);
}

QString EnginePanel::device() const {
    return device_->currentData().toString();
}
QString EnginePanel::errorText() const {
    return error_->text();
}

void EnginePanel::loadModel(const QString& path) {
    if (path.isEmpty()) {
        error_->setText(
            tr("No model folder chosen: put one under %1 or use Other folder…").arg(modelDir_));
        return;
    }
    error_->clear();
    modelInfo_->setText(tr("Loading %1…").arg(path));
    load_->setEnabled(false);
    const int generation = ++generation_;
    const DeviceKind kind = deviceKind(device());
    runAsync(
        this,
        [path, kind] {
            LoadResult r;
            auto m = Model::load(path.toStdString(), kind);
            if (!m)
                r.error = QString::fromStdString(m.error());
            else
                r.model = std::make_shared<const Model>(std::move(*m));
            return r;
        },
        [this, generation, path](LoadResult r) {
            if (generation != generation_) return;
            load_->setEnabled(true);
            if (!r.model) {
                error_->setText(tr("The model could not be loaded: %1").arg(r.error));
                modelInfo_->setText(model_ ? tr("Still using %1.").arg(modelPath_)
                                           : tr("No model loaded."));
                emit loadFailed(r.error);
                return;
            }
            model_ = r.model;
            modelPath_ = path;
            refreshModels();
            showModelInfo();
            emit modelLoaded(model_, path);
        });
}

void EnginePanel::showModelInfo() {
    const ModelInfo& i = model_->info();
    // Weights are held as fp32 after loading.
    const int64_t weightBytes = i.parameterCount * 4;
    modelInfo_->setText(
        tr("<b>%1</b><br>%2<br>%3 parameters (%4 in memory), %5 layers, d_model %6, "
           "vocabulary %7<br>One document's state: %8")
            .arg(modelPath_.toHtmlEscaped(), QString::fromStdString(i.architecture))
            .arg(QLocale().toString(qlonglong(i.parameterCount)), formatBytes(weightBytes))
            .arg(i.nLayer)
            .arg(i.dModel)
            .arg(i.vocabSize)
            .arg(formatBytes(i.stateBytes)));
}

void EnginePanel::recordThroughput(const QString& what, double tokensPerSecond) {
    auto* item = new QTreeWidgetItem;
    item->setText(0, QTime::currentTime().toString("HH:mm:ss"));
    item->setText(1, what);
    item->setText(2, QString::number(tokensPerSecond, 'f', 0));
    item->setTextAlignment(2, Qt::AlignRight);
    throughput_->insertTopLevelItem(0, item);
    while (throughput_->topLevelItemCount() > 50) delete throughput_->takeTopLevelItem(50);
}

void EnginePanel::setCacheTiers(const QStringList& lines) {
    cache_->setText(lines.isEmpty()
                        ? tr("No model loaded: states are cached per model once one is loaded.")
                        : lines.join("\n"));
}

}  // namespace lectern::ui
