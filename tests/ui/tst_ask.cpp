// Ask and surprise end to end with a small random model (byte-level): load it in the
// engine panel, ask about the contract, see the answer stream in and the supporting
// passages, click a passage and land on its page; compute the contract's surprise map and
// see the ranked list. The GUI thread's latency while the model reads is printed.
#include <QElapsedTimer>
#include <QPushButton>
#include <QTableView>
#include <QTextBrowser>
#include <QTimer>
#include <QTreeWidget>
#include <algorithm>

#include "../engine/random_model.h"
#include "ask/ask_panel.h"
#include "engine/engine_panel.h"
#include "library/document_table_model.h"
#include "main_window.h"
#include "surprise/surprise_panel.h"
#include "ui_test_util.h"
#include "viewer/pdf_view.h"
#include "viewer/viewer_panel.h"

using namespace lectern;

class TestAsk : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase() { window_.reset(); }
    void askStreamsAnAnswerWithPassages();
    void surpriseMapRanksPassages();

private:
    QTemporaryDir dir_;
    std::unique_ptr<ui::MainWindow> window_;
};

void TestAsk::initTestCase() {
    test::isolateSettings("tst_ask");
    const QString modelDir = dir_.filePath("models/random");
    test::RandomModelSpec spec;
    spec.dModel = 32;
    spec.nLayer = 2;
    QVERIFY(test::writeRandomModel(modelDir.toStdString(), spec, 7));
    // No stop string a random model would hit at once: the answer runs to the token limit.
    QFile prompt(modelDir + "/prompt.json");
    QVERIFY(prompt.open(QIODevice::WriteOnly));
    prompt.write(R"({"stop": ["<<end of answer>>"]})");
    prompt.close();

    ui::AppSettings settings = test::scratchSettings(dir_);
    settings.lastCollection = "contract";
    window_ = std::make_unique<ui::MainWindow>(settings);
    window_->show();
    QVERIFY(test::ingestAndWait(window_->library(),
                                {test::samplesDir() + "/contract", test::samplesDir() + "/mail"}));
    QSignalSpy loaded(window_->engine(), &ui::EnginePanel::modelLoaded);
    window_->engine()->loadModel(modelDir);
    QVERIFY(loaded.wait(30000));

    // Open the contract from the library, so the question is about this document.
    ui::DocumentTableModel* model = window_->library()->documentModel();
    const QString pdf = test::samplesDir() + "/contract/services-agreement.pdf";
    QTRY_VERIFY_WITH_TIMEOUT(model->rowOfPath(pdf) >= 0, 10000);  // the table reloads async
    const int row = model->rowOfPath(pdf);
    window_->openAt(ui::JumpTarget{model->document(row)->id});
    QTRY_VERIFY_WITH_TIMEOUT(window_->viewer()->showingPdf(), 10000);
}

void TestAsk::askStreamsAnAnswerWithPassages() {
    ui::AskPanel* ask = window_->ask();
    QTextBrowser* answer = ask->findChild<QTextBrowser*>();
    QVERIFY(answer);
    int updates = 0;
    connect(answer, &QTextBrowser::textChanged, this, [&updates] { ++updates; });
    // Gaps of a 5 ms timer while the model reads the document and answers.
    std::vector<double> gaps;
    QElapsedTimer clock;
    clock.start();
    qint64 last = 0;
    QTimer probe;
    probe.setInterval(5);
    connect(&probe, &QTimer::timeout, this, [&] {
        gaps.push_back(double(clock.nsecsElapsed() - last) / 1e6);
        last = clock.nsecsElapsed();
    });
    probe.start();
    QSignalSpy finished(ask, &ui::AskPanel::finished);
    ask->ask("When may either party terminate the agreement?");
    QVERIFY(finished.wait(120000));
    probe.stop();
    std::sort(gaps.begin(), gaps.end());
    if (!gaps.empty())
        qInfo("event-loop latency during prefill + answer: %zu ticks, p99 %.1f ms, max %.1f ms",
              gaps.size(), gaps[std::min(gaps.size() - 1, size_t(0.99 * double(gaps.size())))],
              gaps.back());
    QVERIFY2(finished.first().first().toBool(), qPrintable(ask->statusText()));
    QVERIFY(gaps.size() >= 5);
    QVERIFY(!ask->answerText().isEmpty());
    QVERIFY2(updates >= 3, "the answer did not stream in pieces");

    // A passage from the contract; activating it opens its page.
    QTreeWidget* passages = ask->passages();
    QTreeWidgetItem* pageHit = nullptr;
    for (int i = 0; i < passages->topLevelItemCount() && !pageHit; ++i)
        if (passages->topLevelItem(i)->text(1).startsWith("page "))
            pageHit = passages->topLevelItem(i);
    QVERIFY2(pageHit, "no passage with a page reference");
    const int page = pageHit->text(1).mid(5).section(' ', 0, 0).toInt();
    window_->viewer()->pdfView()->setPage(page == 1 ? 2 : 1);
    passages->setFocus();
    passages->setCurrentItem(pageHit);
    QTest::keyClick(passages, Qt::Key_Return);
    QTRY_COMPARE_WITH_TIMEOUT(window_->viewer()->currentPage(), page, 10000);
}

void TestAsk::surpriseMapRanksPassages() {
    ui::SurprisePanel* surprise = window_->surprise();
    QSignalSpy loaded(surprise, &ui::SurprisePanel::loaded);
    surprise->compute();
    QVERIFY(loaded.wait(120000));
    QVERIFY2(loaded.last().first().toBool(), qPrintable(surprise->statusText()));
    QVERIFY(surprise->ranked()->topLevelItemCount() > 0);
    // A ranked span opens the viewer at its page.
    QTreeWidgetItem* top = surprise->ranked()->topLevelItem(0);
    surprise->ranked()->setFocus();
    surprise->ranked()->setCurrentItem(top);
    QTest::keyClick(surprise->ranked(), Qt::Key_Return);
    if (top->text(0).startsWith("page "))
        QTRY_COMPARE_WITH_TIMEOUT(window_->viewer()->currentPage(),
                                  top->text(0).mid(5).section(',', 0, 0).toInt(), 10000);
}

QTEST_MAIN(TestAsk)
#include "tst_ask.moc"
