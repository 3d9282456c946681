// TrainingPanel: form, chart and the wiring to TrainingJob; the base list is the model
// catalog plus "New model from config.json…".
#include "training/training_panel.h"

#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineSeries>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QVBoxLayout>
#include <QValueAxis>
#include <climits>

#include "async.h"
#include "engine/gpu_availability.h"
#include "engine/model_catalog.h"

namespace lectern::ui {
namespace {

const char* const kNewModel = "new:";

QString formatEta(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0) return QStringLiteral("-");
    const qint64 s = qint64(seconds);
    return s >= 3600 ? QStringLiteral("%1 h %2 min").arg(s / 3600).arg((s % 3600) / 60)
                     : QStringLiteral("%1 min %2 s").arg(s / 60).arg(s % 60);
}

}  // namespace

TrainingPanel::TrainingPanel(QWidget* parent) : QWidget(parent) {
    job_ = new TrainingJob(this);
    collectionLabel_ = new QLabel(tr("(choose a collection in the library)"), this);
    collectionLabel_->setAccessibleName(tr("Training collection"));
    base_ = new QComboBox(this);
    base_->setAccessibleName(tr("Base model"));
    mode_ = new QComboBox(this);
    mode_->setAccessibleName(tr("Training mode"));
    mode_->addItem(tr("Full fine-tuning"), 0);
    mode_->addItem(tr("LoRA, rank 8"), 8);
    mode_->addItem(tr("LoRA, rank 16"), 16);
    device_ = new QComboBox(this);
    device_->setAccessibleName(tr("Training device"));
    device_->addItem(tr("CPU"), "cpu");
    device_->addItem(tr("GPU (CUDA)"), "cuda");
    device_->addItem(tr("Automatic (GPU if usable)"), "auto");
    steps_ = new QSpinBox(this);
    steps_->setRange(1, 10000000);
    steps_->setValue(200);
    steps_->setAccessibleName(tr("Steps"));
    seqLen_ = new QSpinBox(this);
    seqLen_->setRange(8, 1 << 20);
    seqLen_->setValue(128);
    seqLen_->setAccessibleName(tr("Sequence length"));
    batch_ = new QSpinBox(this);
    batch_->setRange(1, 4096);
    batch_->setValue(4);
    batch_->setAccessibleName(tr("Batch size"));
    lr_ = new QDoubleSpinBox(this);
    lr_->setDecimals(5);
    lr_->setRange(1e-6, 1.0);
    lr_->setSingleStep(1e-4);
    lr_->setValue(3e-3);
    lr_->setAccessibleName(tr("Learning rate"));
    start_ = new QPushButton(tr("Start"), this);
    stop_ = new QPushButton(tr("Stop"), this);
    resume_ = new QPushButton(tr("Resume"), this);
    start_->setAccessibleName(tr("Start training"));
    stop_->setAccessibleName(tr("Stop training"));
    resume_->setAccessibleName(tr("Resume training"));
    progress_ = new QProgressBar(this);
    progress_->setAccessibleName(tr("Training progress"));
    speed_ = new QLabel(this);
    speed_->setAccessibleName(tr("Training speed"));
    status_ =
        new QLabel(tr("Training reads the collection's stored text, one byte per token."), this);
    status_->setWordWrap(true);
    status_->setAccessibleName(tr("Training status"));
    status_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto* form = new QFormLayout;
    form->addRow(tr("Collection:"), collectionLabel_);
    form->addRow(tr("Base model:"), base_);
    form->addRow(tr("Mode:"), mode_);
    form->addRow(tr("Device:"), device_);
    auto* numbers = new QHBoxLayout;
    numbers->addWidget(new QLabel(tr("Steps"), this));
    numbers->addWidget(steps_);
    numbers->addWidget(new QLabel(tr("Length"), this));
    numbers->addWidget(seqLen_);
    numbers->addWidget(new QLabel(tr("Batch"), this));
    numbers->addWidget(batch_);
    numbers->addWidget(new QLabel(tr("LR"), this));
    numbers->addWidget(lr_);
    numbers->addStretch(1);
    form->addRow(numbers);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(start_);
    buttons->addWidget(stop_);
    buttons->addWidget(resume_);
    buttons->addWidget(progress_, 1);
    buttons->addWidget(speed_);

    buildChart();
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addLayout(buttons);
    layout->addWidget(chart_, 1);
    layout->addWidget(status_);

    connect(base_, &QComboBox::activated, this, [this] {
        if (base_->currentData().toString() != kNewModel) return;
        const QString file = QFileDialog::getOpenFileName(this, tr("config.json of the new model"),
                                                          modelDir_, tr("JSON (*.json)"));
        if (!file.isEmpty()) setNewModelConfig(file);
    });
    connect(start_, &QPushButton::clicked, this, &TrainingPanel::start);
    connect(stop_, &QPushButton::clicked, this, &TrainingPanel::stop);
    connect(resume_, &QPushButton::clicked, this, &TrainingPanel::resume);
    connect(job_, &TrainingJob::points, this, &TrainingPanel::onPoints);
    connect(job_, &TrainingJob::progress, this, [this](qint64 step, qint64 steps, double eta) {
        progress_->setRange(0, int(qMin<qint64>(steps, INT_MAX)));
        progress_->setValue(int(qMin<qint64>(step, INT_MAX)));
        progress_->setFormat(tr("step %1 / %2, ETA %3").arg(step).arg(steps).arg(formatEta(eta)));
    });
    connect(job_, &TrainingJob::message, status_, &QLabel::setText);
    connect(job_, &TrainingJob::finished, this, &TrainingPanel::onFinished);
    outDir_ = QSettings().value("training/lastOut").toString();
    setRunning(false);
    setDevice(QSettings().value("training/device", "cpu").toString());
    // Probing the GPU initialises CUDA: off the GUI thread.
    runAsync(
        this, [] { return ui::gpuUnavailableReason(); },
        [this](const QString& reason) { setGpuReason(reason); });
}

// The GPU choice is greyed out with the reason where no GPU is usable; Automatic stays (it
// falls back to the CPU).
void TrainingPanel::setGpuReason(const QString& reason) {
    gpuReason_ = reason;
    auto* items = qobject_cast<QStandardItemModel*>(device_->model());
    QStandardItem* gpu = items ? items->item(device_->findData("cuda")) : nullptr;
    if (!gpu) return;
    gpu->setEnabled(reason.isEmpty());
    gpu->setToolTip(reason.isEmpty() ? QString() : tr("Not available: %1").arg(reason));
    gpu->setText(reason.isEmpty() ? tr("GPU (CUDA)") : tr("GPU (CUDA): %1").arg(reason));
    if (!reason.isEmpty() && device() == "cuda") setDevice("auto");
}

void TrainingPanel::setDevice(const QString& device) {
    const int i = device_->findData(device);
    if (i >= 0) device_->setCurrentIndex(i);
}

QString TrainingPanel::device() const {
    return device_->currentData().toString();
}

void TrainingPanel::buildChart() {
    loss_ = new QLineSeries;
    loss_->setName(tr("training loss"));
    val_ = new QLineSeries;
    val_->setName(tr("validation loss"));
    auto* chart = new QChart;
    chart->addSeries(loss_);
    chart->addSeries(val_);
    axisX_ = new QValueAxis;
    axisX_->setTitleText(tr("step"));
    axisX_->setLabelFormat("%d");
    axisX_->setRange(0, 10);
    axisX_->setTickCount(6);  // 0, 2, 4 … 10: whole steps
    axisY_ = new QValueAxis;
    axisY_->setTitleText(tr("loss (nats/byte)"));
    axisY_->setRange(0, 6);
    chart->addAxis(axisX_, Qt::AlignBottom);
    chart->addAxis(axisY_, Qt::AlignLeft);
    for (QLineSeries* s : {loss_, val_}) {
        s->attachAxis(axisX_);
        s->attachAxis(axisY_);
    }
    chart->legend()->setAlignment(Qt::AlignTop);
    chart->setMargins(QMargins(4, 4, 4, 4));
    // Follow the system palette (light or dark).
    const bool dark = palette().color(QPalette::Window).lightness() < 128;
    chart->setTheme(dark ? QChart::ChartThemeDark : QChart::ChartThemeLight);
    chart_ = new QChartView(chart, this);
    chart_->setRenderHint(QPainter::Antialiasing);
    chart_->setAccessibleName(tr("Loss chart"));
    chart_->setMinimumHeight(180);
}

void TrainingPanel::setModelDir(const QString& modelDir) {
    modelDir_ = modelDir;
    refreshBases();
}

void TrainingPanel::refreshBases() {
    const QString current = base_->currentData().toString();
    base_->clear();
    for (const ModelEntry& e : findModels(modelDir_)) base_->addItem(e.name, e.path);
    base_->addItem(newConfig_.isEmpty() ? tr("New model from config.json…")
                                        : tr("New model from %1").arg(newConfig_),
                   kNewModel);
    const int keep = base_->findData(current);
    base_->setCurrentIndex(keep >= 0 ? keep : 0);
}

void TrainingPanel::setCollection(const QString& collection) {
    collection_ = collection;
    collectionLabel_->setText(collection.isEmpty() ? tr("(choose a collection in the library)")
                                                   : collection);
}

void TrainingPanel::setNewModelConfig(const QString& configPath) {
    newConfig_ = configPath;
    refreshBases();
    base_->setCurrentIndex(base_->findData(kNewModel));
}

void TrainingPanel::setSteps(int steps) {
    steps_->setValue(steps);
}
void TrainingPanel::setSequenceLength(int seqLen) {
    seqLen_->setValue(seqLen);
}
void TrainingPanel::setBatch(int batch) {
    batch_->setValue(batch);
}
int TrainingPanel::lossPoints() const {
    return int(loss_->count());
}
int TrainingPanel::validationPoints() const {
    return int(val_->count());
}
QString TrainingPanel::statusText() const {
    return status_->text();
}

void TrainingPanel::start() {
    run(false);
}
void TrainingPanel::resume() {
    run(true);
}

void TrainingPanel::stop() {
    job_->stop();
    status_->setText(tr("Stopping after the current step (a checkpoint is written)…"));
}

void TrainingPanel::run(bool resume) {
    TrainingRequest r;
    r.storeDir = storeDir_;
    r.collection = collection_;
    r.steps = steps_->value();
    r.seqLen = seqLen_->value();
    r.batch = batch_->value();
    r.lr = lr_->value();
    r.resume = resume;
    r.loraRank = mode_->currentData().toInt();
    r.device = device();
    QSettings().setValue("training/device", r.device);
    if (resume) {
        if (outDir_.isEmpty()) {
            status_->setText(tr("Nothing to resume: start a run first."));
            return;
        }
        r.outDir = outDir_;
    } else {
        if (collection_.isEmpty()) {
            status_->setText(tr("Choose a collection in the library first."));
            return;
        }
        const QString base = base_->currentData().toString();
        if (base == kNewModel) {
            if (newConfig_.isEmpty()) {
                status_->setText(tr("Choose the config.json of the new model."));
                return;
            }
            r.newConfig = newConfig_;
        } else {
            r.baseModel = base;
        }
        r.outDir = freshModelFolder(modelDir_, QStringLiteral("trained-%1").arg(collection_));
        loss_->clear();
        val_->clear();
        yMax_ = 0;
    }
    if (!job_->start(r)) return;
    outDir_ = r.outDir;
    QSettings().setValue("training/lastOut", outDir_);
    setRunning(true);
    status_->setText(tr("Training into %1…").arg(outDir_));
}

// A batch of points: one append per series and one axis update, not one per step.
void TrainingPanel::onPoints(const QVector<TrainingPoint>& points) {
    if (points.isEmpty()) return;
    QList<QPointF> loss, val;
    for (const TrainingPoint& p : points) {
        if (std::isfinite(p.loss)) {
            loss << QPointF(double(p.step), p.loss);
            yMax_ = qMax(yMax_, p.loss);
        }
        if (std::isfinite(p.valLoss)) {
            val << QPointF(double(p.step), p.valLoss);
            yMax_ = qMax(yMax_, p.valLoss);
        }
    }
    if (!loss.isEmpty()) loss_->append(loss);
    if (!val.isEmpty()) val_->append(val);
    axisX_->setRange(0, qMax<double>(10.0, double(points.back().step)));
    axisX_->applyNiceNumbers();  // whole-number steps on the ticks
    axisY_->setRange(0, qMax(1.0, yMax_ * 1.1));
    const double tps = points.back().tokensPerSecond;
    speed_->setText(tr("%1 tokens/s").arg(tps, 0, 'f', 0));
    if (tps > 0) emit throughputMeasured(tps);
}

void TrainingPanel::onFinished(const TrainingOutcome& outcome) {
    setRunning(false);
    if (!outcome.ok) {
        // A stop before the first step is the user's choice, not a failure.
        status_->setText(outcome.stopped ? outcome.message
                                         : tr("Training failed: %1").arg(outcome.message));
        return;
    }
    status_->setText(outcome.message + " " + tr("Model: %1").arg(outcome.outDir));
    refreshBases();
    emit modelTrained(outcome.outDir);
}

void TrainingPanel::setRunning(bool running) {
    start_->setEnabled(!running);
    resume_->setEnabled(!running && !outDir_.isEmpty());
    stop_->setEnabled(running);
    for (QWidget* w :
         std::initializer_list<QWidget*>{base_, mode_, device_, steps_, seqLen_, batch_, lr_})
        w->setEnabled(!running);
}

}  // namespace lectern::ui
