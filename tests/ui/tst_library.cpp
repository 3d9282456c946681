// The library end to end: ingest the bundled samples through the panel and see them in the
// table (with the GUI thread measured for responsiveness meanwhile), files and a folder
// dropped on the panel (real QMimeData URLs through its drop handler) are ingested, a
// changed file read again with Re-ingest shows its new size, Remove takes a document out,
// a broken PDF shows its error in its row, and Cancel stops a long ingest keeping what was
// committed.
#include <QAbstractItemModelTester>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QElapsedTimer>
#include <QMimeData>
#include <QPushButton>
#include <QTableView>
#include <algorithm>
#include <vector>

#include "latency_probe.h"
#include "library/document_table_model.h"
#include "main_window.h"
#include "ui_test_util.h"

using namespace lectern;

class TestLibrary : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { test::isolateSettings("tst_library"); }
    void ingestsSamplesWhileGuiStaysResponsive();
    void droppedFilesAndFoldersAreIngestedAndReingested();
    void brokenPdfShowsItsErrorInTheRow();
    void cancelStopsALongIngest();
};

void TestLibrary::ingestsSamplesWhileGuiStaysResponsive() {
    QTemporaryDir dir;
    ui::MainWindow window(test::scratchSettings(dir));
    window.show();
    ui::LibraryPanel* library = window.library();
    QAbstractItemModelTester tester(library->documentModel(),
                                    QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(library->currentCollection(), QString("samples"));

    test::LatencyProbe probe;
    QVERIFY(test::ingestAndWait(library, {test::samplesDir()}));
    probe.stop();
    probe.print("GUI during ingest of the samples");
    QVERIFY2(probe.ticks() >= 5, "the GUI thread stopped processing events during ingest");

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

namespace {

void writeFile(const QString& path, const QByteArray& text) {
    QDir().mkpath(QFileInfo(path).path());
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write(text);
}

QPushButton* button(QWidget* parent, const QString& accessibleName) {
    for (QPushButton* b : parent->findChildren<QPushButton*>())
        if (b->accessibleName() == accessibleName) return b;
    return nullptr;
}

void selectPath(QTableView* table, const QString& path) {
    table->clearSelection();
    for (int r = 0; r < table->model()->rowCount(); ++r)
        if (table->model()->index(r, ui::DocumentTableModel::Path).data().toString() == path)
            table->selectRow(r);
}

}  // namespace

void TestLibrary::droppedFilesAndFoldersAreIngestedAndReingested() {
    QTemporaryDir dir;
    const QString notes = dir.filePath("drop/notes.txt");
    const QString folder = dir.filePath("drop/folder");
    writeFile(notes, "first line about the harbour\nsecond line\n");
    writeFile(folder + "/plan.md", "# Plan\n\nShip the crates on Monday.\n");
    writeFile(folder + "/deep/log.txt", "12:00 gate opened\n12:05 gate closed\n");
    ui::AppSettings settings = test::scratchSettings(dir);
    settings.lastCollection = "dropped";
    ui::MainWindow window(settings);
    window.show();
    ui::LibraryPanel* library = window.library();
    ui::DocumentTableModel* model = library->documentModel();

    // A file and a folder dragged from a file manager: URLs in the MIME data.
    QMimeData mime;
    mime.setUrls({QUrl::fromLocalFile(notes), QUrl::fromLocalFile(folder)});
    const QPoint at = library->rect().center();
    QDragEnterEvent enter(at, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(library, &enter);
    QVERIFY2(enter.isAccepted(), "the library refused a drag of local files");
    QSignalSpy finished(library, &ui::LibraryPanel::ingestFinished);
    QDropEvent drop(at, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(library, &drop);
    QVERIFY2(drop.isAccepted(), qPrintable(library->statusText()));
    // While that ingest runs, another drag is refused rather than queued silently.
    QDragEnterEvent again(at, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(library, &again);
    QVERIFY(!again.isAccepted() || finished.count() > 0);
    QVERIFY(finished.wait(90000));
    QVERIFY2(finished.first().first().toBool(), qPrintable(library->statusText()));
    QTRY_VERIFY_WITH_TIMEOUT(model->rowOfPath(notes) >= 0 &&
                                 model->rowOfPath(folder + "/plan.md") >= 0 &&
                                 model->rowOfPath(folder + "/deep/log.txt") >= 0,
                             10000);
    QVERIFY2(library->statusText().contains("3 added"), qPrintable(library->statusText()));
    const qint64 oldSize = model->document(model->rowOfPath(notes))->size;
    QCOMPARE(oldSize, QFileInfo(notes).size());

    // The file changes on disk; Re-ingest on its row reads it again.
    writeFile(notes,
              "first line about the harbour\nsecond line\nthird line: the quay\n"
              "fourth line\n");
    QTableView* table = library->table();
    selectPath(table, notes);
    QCOMPARE(table->selectionModel()->selectedRows().size(), 1);
    QPushButton* reingest = button(library, "Re-ingest");
    QVERIFY(reingest);
    finished.clear();
    QTest::mouseClick(reingest, Qt::LeftButton);
    QVERIFY(finished.wait(90000));
    QVERIFY2(library->statusText().contains("1 updated"), qPrintable(library->statusText()));
    QTRY_COMPARE_WITH_TIMEOUT(model->document(model->rowOfPath(notes))->size,
                              QFileInfo(notes).size(), 10000);
    QVERIFY(QFileInfo(notes).size() > oldSize);

    // Remove the dropped folder's log: it leaves the library, the file stays.
    selectPath(table, folder + "/deep/log.txt");
    QTest::mouseClick(button(library, "Remove"), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(model->rowOfPath(folder + "/deep/log.txt") < 0, 10000);
    QVERIFY(model->rowOfPath(notes) >= 0);
    QVERIFY(QFileInfo::exists(folder + "/deep/log.txt"));
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
    test::LatencyProbe probe;
    QVERIFY(library->ingestPaths({"/usr/include"}));
    QVERIFY(committed.wait(30000));
    // Let the table grow to thousands of rows (or 15 s) while the GUI thread is measured.
    QElapsedTimer growing;
    growing.start();
    while (library->documentModel()->rowCount() < 3000 && growing.elapsed() < 15000)
        QTest::qWait(100);
    probe.stop();
    probe.print(qPrintable(QString("GUI during a large ingest (%1 rows shown)")
                               .arg(library->documentModel()->rowCount())));
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
