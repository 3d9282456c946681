// The library end to end: ingest the bundled samples through the panel and see them in the
// table (with the GUI thread measured for responsiveness meanwhile), a broken PDF shows its
// error in its row, and Cancel stops a long ingest keeping what was committed.
#include <QAbstractItemModelTester>
#include <QElapsedTimer>
#include <QPushButton>
#include <QTableView>
#include <QTimer>
#include <algorithm>
#include <vector>

#include "library/document_table_model.h"
#include "main_window.h"
#include "ui_test_util.h"

using namespace lectern;

class TestLibrary : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { test::isolateSettings("tst_library"); }
    void ingestsSamplesWhileGuiStaysResponsive();
    void brokenPdfShowsItsErrorInTheRow();
    void cancelStopsALongIngest();
};

// Gaps between ticks of a 2 ms timer while ingest runs: a stalled GUI thread shows as a
// long gap. Printed (tests never assert timings); the test asserts only that ticks came.
struct LatencyProbe {
    QTimer timer;
    QElapsedTimer clock;
    std::vector<double> gapsMs;
    qint64 last = 0;
    LatencyProbe() {
        timer.setInterval(2);
        QObject::connect(&timer, &QTimer::timeout, [this] {
            const qint64 now = clock.nsecsElapsed();
            gapsMs.push_back(double(now - last) / 1e6);
            last = now;
        });
        clock.start();
        timer.start();
    }
    double percentile(double p) {
        if (gapsMs.empty()) return 0;
        std::vector<double> g = gapsMs;
        std::sort(g.begin(), g.end());
        return g[std::min(g.size() - 1, size_t(p * double(g.size())))];
    }
};

void TestLibrary::ingestsSamplesWhileGuiStaysResponsive() {
    QTemporaryDir dir;
    ui::MainWindow window(test::scratchSettings(dir));
    window.show();
    ui::LibraryPanel* library = window.library();
    QAbstractItemModelTester tester(library->documentModel(),
                                    QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(library->currentCollection(), QString("samples"));

    LatencyProbe probe;
    QVERIFY(test::ingestAndWait(library, {test::samplesDir()}));
    probe.timer.stop();
    qInfo("event-loop latency during ingest: %zu ticks, p50 %.1f ms, p99 %.1f ms, max %.1f ms",
          probe.gapsMs.size(), probe.percentile(0.5), probe.percentile(0.99),
          probe.percentile(1.0));
    QVERIFY2(probe.gapsMs.size() >= 5, "the GUI thread stopped processing events during ingest");

    ui::DocumentTableModel* model = library->documentModel();
    const QString pdf = test::samplesDir() + "/contract/services-agreement.pdf";
    QTRY_VERIFY_WITH_TIMEOUT(model->rowOfPath(pdf) >= 0, 10000);
    const int row = model->rowOfPath(pdf);
    QCOMPARE(
        model->data(model->index(row, ui::DocumentTableModel::Status), Qt::DisplayRole).toString(),
        QString("ok"));
    QVERIFY(model->data(model->index(row, ui::DocumentTableModel::Extent), Qt::DisplayRole)
                .toString()
                .endsWith("pages"));
    QVERIFY(model->rowOfPath(test::samplesDir() + "/logs/gateway.log") >= 0);
    QVERIFY(model->rowOfPath(test::samplesDir() + "/mail/termination-notice.eml") >= 0);
    QVERIFY(library->statusText().startsWith("Done"));

    // Remove: select the log's row, press Remove; it leaves the library (the file stays).
    const QString log = test::samplesDir() + "/logs/gateway.log";
    QTableView* table = library->table();
    for (int r = 0; r < table->model()->rowCount(); ++r)
        if (table->model()->index(r, ui::DocumentTableModel::Path).data().toString() == log)
            table->selectRow(r);
    QCOMPARE(table->selectionModel()->selectedRows().size(), 1);
    QPushButton* remove = nullptr;
    for (QPushButton* b : library->findChildren<QPushButton*>())
        if (b->accessibleName() == "Remove") remove = b;
    QVERIFY(remove);
    QTest::mouseClick(remove, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(model->rowOfPath(log) < 0, 10000);
    QVERIFY(QFileInfo::exists(log));
}

void TestLibrary::brokenPdfShowsItsErrorInTheRow() {
    QTemporaryDir dir;
    const QString pdf = dir.filePath("input/broken.pdf");
    QDir().mkpath(dir.filePath("input"));
    {
        QFile f(pdf);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nthis is not a PDF body\n");
    }
    ui::AppSettings settings = test::scratchSettings(dir);
    settings.lastCollection = "broken";
    ui::MainWindow window(settings);
    window.show();
    QVERIFY(test::ingestAndWait(window.library(), {dir.filePath("input")}));
    ui::DocumentTableModel* model = window.library()->documentModel();
    QTRY_VERIFY_WITH_TIMEOUT(model->rowOfPath(pdf) >= 0, 10000);
    const QModelIndex status = model->index(model->rowOfPath(pdf), ui::DocumentTableModel::Status);
    const QString text = status.data(Qt::DisplayRole).toString();
    qInfo("broken PDF row: %s", qPrintable(text));
    QVERIFY2(text != "ok", qPrintable(text));
    QVERIFY2(text.contains(':') && text.size() > 12, "the row should carry the error message");
    QCOMPARE(status.data(Qt::ForegroundRole).value<QBrush>().color(), QColor(Qt::red));
    QVERIFY(window.library()->statusText().contains("1 failed"));
}

void TestLibrary::cancelStopsALongIngest() {
    if (!QFileInfo::exists("/usr/include/c++"))
        QSKIP("SKIPPED: /usr/include (a large tree to cancel) lacks c++ headers here");
    QTemporaryDir dir;
    ui::AppSettings settings = test::scratchSettings(dir);
    settings.lastCollection = "big";
    ui::MainWindow window(settings);
    window.show();
    ui::LibraryPanel* library = window.library();
    QSignalSpy committed(library->ingestJob(), &ui::IngestJob::documentCommitted);
    QSignalSpy finished(library, &ui::LibraryPanel::ingestFinished);
    QVERIFY(library->ingestPaths({"/usr/include"}));
    QVERIFY(committed.wait(30000));
    // The Cancel button, as a user presses it.
    QPushButton* cancel = nullptr;
    for (QPushButton* b : library->findChildren<QPushButton*>())
        if (b->accessibleName() == "Cancel ingest") cancel = b;
    QVERIFY(cancel && cancel->isVisible());
    QTest::mouseClick(cancel, Qt::LeftButton);
    QVERIFY(finished.wait(30000));
    QVERIFY2(library->statusText().startsWith("Cancelled"), qPrintable(library->statusText()));
    // What was committed before the cancel is in the library.
    QTRY_VERIFY_WITH_TIMEOUT(library->documentModel()->rowCount() > 0, 10000);
}

QTEST_MAIN(TestLibrary)
#include "tst_library.moc"
