// Training from the panel on a tiny random model: Start, the loss chart gets points, Stop
// leaves a checkpoint, Resume continues from it, and the trained folder loads in the engine
// panel as a selectable model.
#include <QPushButton>

#include "engine/engine_panel.h"
#include "main_window.h"
#include "training/training_panel.h"
#include "ui_test_util.h"

using namespace lectern;

class TestTraining : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { test::isolateSettings("tst_training"); }
    void startStopResumeAndLoadTheResult();
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
    QSignalSpy finished(panel->job(), &ui::TrainingJob::finished);
    QTest::mouseClick(button(panel, "Start training"), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(panel->lossPoints() >= 3, 60000);
    QVERIFY(panel->validationPoints() >= 1);
    QTest::mouseClick(button(panel, "Stop training"), Qt::LeftButton);
    QVERIFY(finished.wait(60000));
    QVERIFY2(panel->statusText().startsWith("Stopped at step"), qPrintable(panel->statusText()));
    const QString out = panel->lastOutDir();
    QVERIFY(QFileInfo::exists(out + "/latest"));
    QVERIFY(QFileInfo::exists(out + "/config.json"));

    // Resume continues the same run: more points, from where it stopped.
    const int before = panel->lossPoints();
    QTest::mouseClick(button(panel, "Resume training"), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(panel->lossPoints() >= before + 2, 60000);
    QTest::mouseClick(button(panel, "Stop training"), Qt::LeftButton);
    QVERIFY(finished.wait(60000));
    QVERIFY2(panel->statusText().startsWith("Stopped at step"), qPrintable(panel->statusText()));

    // The result is a model the engine loads.
    QSignalSpy loaded(window.engine(), &ui::EnginePanel::modelLoaded);
    window.engine()->loadModel(out);
    QVERIFY(loaded.wait(30000));
    QCOMPARE(window.engine()->model()->info().vocabSize, 256);
    QVERIFY(window.engine()->errorText().isEmpty());
}

QTEST_MAIN(TestTraining)
#include "tst_training.moc"
