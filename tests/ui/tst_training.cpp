// Training from the panel on a tiny random model, driven by the trainer's progress hook in
// one run: Start, the loss chart gets points while it runs, Stop ends it after the current
// step leaving a checkpoint and a loadable model, Resume continues from the checkpoint and
// runs to the end, and the trained folder loads in the engine panel as a selectable model.
// The device choice offers CPU, GPU and automatic, the GPU greyed out with its reason
// where none is usable.
#include <QComboBox>
#include <QPushButton>
#include <QStandardItemModel>

#include "engine/engine_panel.h"
#include "lectern/version.h"
#include "main_window.h"
#include "training/training_job.h"
#include "training/training_panel.h"
#include "ui_test_util.h"

using namespace lectern;

class TestTraining : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { test::isolateSettings("tst_training"); }
    void startStopResumeAndLoadTheResult();
    void loraCheckpointsNameTheBaseAndResume();
};

static QPushButton* button(QWidget* panel, const QString& accessibleName) {
    for (QPushButton* b : panel->findChildren<QPushButton*>())
        if (b->accessibleName() == accessibleName) return b;
    return nullptr;
}

void TestTraining::startStopResumeAndLoadTheResult() {
    QTemporaryDir dir;
    const QString config = dir.filePath("tiny-config.json");
    QVERIFY(test::writeTinyConfig(config));
    ui::AppSettings settings = test::scratchSettings(dir);
    settings.lastCollection = "notes";
    ui::MainWindow window(settings);
    window.show();
    QVERIFY(test::ingestAndWait(window.library(),
                                {test::samplesDir() + "/notes", test::samplesDir() + "/logs",
                                 test::samplesDir() + "/source"}));

    ui::TrainingPanel* panel = window.training();
    panel->setNewModelConfig(config);
    panel->setSteps(100000);  // never reached: the run ends by Stop
    panel->setSequenceLength(32);
    panel->setBatch(2);

    // The device: CPU, GPU, automatic; without a usable GPU its item is greyed with why.
    QComboBox* device = nullptr;
    for (QComboBox* c : panel->findChildren<QComboBox*>())
        if (c->accessibleName() == "Training device") device = c;
    QVERIFY(device);
    QCOMPARE(device->count(), 3);
    auto* items = qobject_cast<QStandardItemModel*>(device->model());
    QVERIFY(items);
    if (!kBuiltWithCuda) {
        QTRY_VERIFY_WITH_TIMEOUT(!panel->gpuUnavailableReason().isEmpty(), 10000);
        QStandardItem* gpu = items->item(device->findData("cuda"));
        QVERIFY(!gpu->isEnabled());
        QVERIFY2(gpu->toolTip().contains("no CUDA backend"), qPrintable(gpu->toolTip()));
    }
    panel->setDevice("cpu");

    QSignalSpy finished(panel->job(), &ui::TrainingJob::finished);
    QTest::mouseClick(button(panel, "Start training"), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(panel->lossPoints() >= 3, 60000);
    QVERIFY(panel->job()->running());  // the chart moves while the one run goes on
    QTRY_VERIFY_WITH_TIMEOUT(panel->validationPoints() >= 1, 60000);
    QTest::mouseClick(button(panel, "Stop training"), Qt::LeftButton);
    QVERIFY(finished.wait(60000));
    QVERIFY2(panel->statusText().startsWith("Stopped at step"), qPrintable(panel->statusText()));
    QVERIFY2(panel->statusText().contains("on the CPU"), qPrintable(panel->statusText()));
    const QString out = panel->lastOutDir();
    QVERIFY(QFileInfo::exists(out + "/latest"));
    QVERIFY(QFileInfo::exists(out + "/config.json"));  // a stopped run is a loadable model
    const qint64 stoppedAt = panel->statusText().section(' ', 3, 3).toLongLong();
    QVERIFY2(stoppedAt > 0, qPrintable(panel->statusText()));

    // Resume continues the same run from its checkpoint and, with 20 more steps to go, runs
    // to the end on its own.
    const int before = panel->lossPoints();
    panel->setSteps(int(stoppedAt) + 20);
    QTest::mouseClick(button(panel, "Resume training"), Qt::LeftButton);
    QVERIFY(finished.wait(120000));
    QVERIFY2(panel->statusText().startsWith("Finished"), qPrintable(panel->statusText()));
    QVERIFY(panel->lossPoints() >= before + 20);

    // The result is a model the engine loads.
    QSignalSpy loaded(window.engine(), &ui::EnginePanel::modelLoaded);
    window.engine()->loadModel(out);
    QVERIFY(loaded.wait(30000));
    QCOMPARE(window.engine()->model()->info().vocabSize, 256);
    QVERIFY(window.engine()->errorText().isEmpty());
}

// A LoRA run from the panel's job fine-tunes the bundled model: its checkpoint names the
// base (lora_base.json) instead of copying its weights, and a resume continues from it.
void TestTraining::loraCheckpointsNameTheBaseAndResume() {
    QTemporaryDir dir;
    ui::AppSettings settings = test::scratchSettings(dir);
    settings.lastCollection = "notes";
    ui::MainWindow window(settings);
    QVERIFY(test::ingestAndWait(window.library(), {test::samplesDir() + "/notes"}));

    ui::TrainingRequest r;
    r.storeDir = settings.storeDir;
    r.collection = "notes";
    r.baseModel = QStringLiteral(LECTERN_SOURCE_DIR "/resources/models/default");
    r.outDir = dir.filePath("lora-out");
    r.loraRank = 2;
    r.steps = 3, r.seqLen = 32, r.batch = 2;
    ui::TrainingJob job;
    QSignalSpy finished(&job, &ui::TrainingJob::finished);
    QVERIFY(job.start(r));
    QVERIFY(finished.wait(120000));
    auto outcome = finished.takeFirst().first().value<ui::TrainingOutcome>();
    QVERIFY2(outcome.ok, qPrintable(outcome.message));

    QFile latest(r.outDir + "/latest");
    QVERIFY(latest.open(QIODevice::ReadOnly));
    const QString ckpt = r.outDir + "/" + QString::fromUtf8(latest.readAll()).trimmed();
    QVERIFY2(QFileInfo::exists(ckpt + "/lora_base.json"), qPrintable(ckpt));
    QVERIFY2(!QFileInfo::exists(ckpt + "/model.safetensors"), qPrintable(ckpt));
    QVERIFY(QFileInfo::exists(r.outDir + "/model.safetensors"));  // the merged model

    r.resume = true;
    r.steps = 5;
    QVERIFY(job.start(r));
    QVERIFY(finished.wait(120000));
    outcome = finished.takeFirst().first().value<ui::TrainingOutcome>();
    QVERIFY2(outcome.ok, qPrintable(outcome.message));
    QCOMPARE(outcome.step, qint64(5));
}

QTEST_MAIN(TestTraining)
#include "tst_training.moc"
