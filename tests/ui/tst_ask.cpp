// Ask and surprise end to end with a small random model (byte-level): load it in the
// engine panel, ask about the contract, see the answer stream in and the supporting
// passages, click a passage and land on its page; compute the contract's surprise map and
// see the ranked list. Asked "as of page 1", the answer's passages come from page 1 only.
// The history is kept in the store: a restarted window lists the questions, shows a stored
// answer with its passages again, and Clear empties it for good. The GUI thread's latency
// while the model reads is printed.
#include <QListWidget>
#include <QPushButton>
#include <QSpinBox>
#include <QTableView>
#include <QTextBrowser>
#include <QTreeWidget>

#include "../engine/random_model.h"
#include "ask/ask_history_view.h"
#include "ask/ask_panel.h"
#include "engine/engine_panel.h"
#include "latency_probe.h"
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
    void asOfPageKeepsPassagesToThosePages();
    void historySurvivesARestartAndClears();
    void guiStaysResponsiveDuringALongPrefill();

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
    // The GUI thread while the model reads the document and answers.
    test::LatencyProbe probe;
    QSignalSpy finished(ask, &ui::AskPanel::finished);
    ask->ask("When may either party terminate the agreement?");
    QVERIFY(finished.wait(120000));
    probe.stop();
    probe.print("GUI during prefill + answer");
    QVERIFY2(finished.first().first().toBool(), qPrintable(ask->statusText()));
    // The event loop turned while the model worked (how often depends on the machine's load:
    // the ask takes ~20-60 ms here, so only "at all" is asserted).
    QVERIFY(probe.ticks() >= 1);
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

void TestAsk::asOfPageKeepsPassagesToThosePages() {
    ui::AskPanel* ask = window_->ask();
    QSpinBox* asOf = ask->findChild<QSpinBox*>();
    QVERIFY(asOf && asOf->isEnabled());
    QCOMPARE(asOf->maximum(), 3);  // the contract's pages
    asOf->setValue(1);
    QSignalSpy finished(ask, &ui::AskPanel::finished);
    // Words of all three pages; only page 1 was read.
    ask->ask("How many days may the Supplier take to return Customer Data after termination?");
    QVERIFY(finished.wait(120000));
    QVERIFY2(finished.first().first().toBool(), qPrintable(ask->statusText()));
    QTreeWidget* passages = ask->passages();
    QVERIFY2(passages->topLevelItemCount() > 0, "page 1 holds Supplier, Customer and days");
    for (int i = 0; i < passages->topLevelItemCount(); ++i)
        QCOMPARE(passages->topLevelItem(i)->text(1), QString("page 1"));
    QVERIFY2(ask->timingsText().contains("as of page 1"), qPrintable(ask->timingsText()));
    asOf->setValue(0);
}

void TestAsk::historySurvivesARestartAndClears() {
    QCOMPARE(window_->ask()->history()->count(), 2);  // the two questions above, newest first
    QVERIFY(window_->ask()->history()->record(0)->question.starts_with("How many days"));
    window_.reset();  // a restart over the same store and settings
    ui::AppSettings settings = test::scratchSettings(dir_);
    settings.lastCollection = "contract";
    window_ = std::make_unique<ui::MainWindow>(settings);
    window_->show();
    ui::AskHistoryView* history = window_->ask()->history();
    // No document is open: the whole collection's history, both questions.
    QTRY_COMPARE_WITH_TIMEOUT(history->count(), 2, 10000);
    const store::AskRecord* first = history->record(1);
    QCOMPARE(QString::fromStdString(first->question),
             QString("When may either party terminate the agreement?"));
    QVERIFY(!first->answer.empty());
    QVERIFY(!first->modelId.empty());
    QCOMPARE(QString::fromStdString(first->modelName), QString("random"));
    QVERIFY(first->askedAt > 0);
    // Activating it shows the stored answer and its passages, which still open their page.
    QListWidget* list = history->list();
    list->setFocus();
    list->setCurrentRow(1);
    QTest::keyClick(list, Qt::Key_Return);
    QCOMPARE(window_->ask()->answerText(), QString::fromStdString(first->answer));
    QCOMPARE(window_->ask()->passages()->topLevelItemCount(), int(first->passages.size()));
    QVERIFY(window_->ask()->timingsText().contains("random"));
    // Clear empties it, in the store too: another restart finds nothing.
    QSignalSpy cleared(history, &ui::AskHistoryView::cleared);
    QPushButton* clear = nullptr;
    for (QPushButton* b : history->findChildren<QPushButton*>())
        if (b->accessibleName() == "Clear history") clear = b;
    QVERIFY(clear && clear->isEnabled());
    QTest::mouseClick(clear, Qt::LeftButton);
    QVERIFY(cleared.wait(10000));
    QVERIFY(cleared.first().first().toBool());
    QCOMPARE(history->count(), 0);
    QSignalSpy loaded(history, &ui::AskHistoryView::loaded);
    history->reload();
    QVERIFY(loaded.wait(10000));
    QCOMPARE(history->count(), 0);
}

// A document long enough that reading it takes seconds (~400 KB of text, the tiny model):
// the GUI thread is measured while the engine thread prefills it and answers. Printed only.
void TestAsk::guiStaysResponsiveDuringALongPrefill() {
    const QString file = dir_.filePath("long/ledger.txt");
    QDir().mkpath(QFileInfo(file).path());
    {
        QFile f(file);
        QVERIFY(f.open(QIODevice::WriteOnly));
        for (int i = 0; i < 6000; ++i)
            f.write(QStringLiteral("%1: shipment %2 left the harbour for quay %3 with %4 crates, "
                                   "invoice %5 paid.\n")
                        .arg(i)
                        .arg(i * 7919 % 100000)
                        .arg(i % 17)
                        .arg(i % 113)
                        .arg(i * 31 % 9973)
                        .toUtf8());
    }
    QVERIFY(test::ingestAndWait(window_->library(), {file}));
    QSignalSpy loaded(window_->engine(), &ui::EnginePanel::modelLoaded);
    window_->engine()->loadModel(dir_.filePath("models/random"));
    QVERIFY(loaded.wait(30000));
    ui::DocumentTableModel* model = window_->library()->documentModel();
    QTRY_VERIFY_WITH_TIMEOUT(model->rowOfPath(file) >= 0, 10000);
    const qint64 id = model->document(model->rowOfPath(file))->id;
    window_->openAt(ui::JumpTarget{id});
    QTRY_COMPARE_WITH_TIMEOUT(window_->viewer()->documentId(), id, 10000);
    ui::AskPanel* ask = window_->ask();
    QSignalSpy finished(ask, &ui::AskPanel::finished);
    test::LatencyProbe probe;
    ask->ask("Which quay did shipment 7919 leave for?");
    QVERIFY(finished.wait(180000));
    probe.stop();
    probe.print(qPrintable(QString("GUI during the prefill of a %1 KB document + answer")
                               .arg(QFileInfo(file).size() / 1024)));
    QVERIFY2(finished.first().first().toBool(), qPrintable(ask->statusText()));
    QVERIFY(ask->timingsText().contains("rebuilt"));
}

QTEST_MAIN(TestAsk)
#include "tst_ask.moc"
