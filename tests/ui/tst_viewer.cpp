// Search hits land in the viewer: a PDF hit opens the contract at its page with the words
// highlighted by Poppler, a text hit opens the file at its line; page navigation and the
// library's activation open documents too.
#include <QTableView>
#include <QTextBlock>
#include <QTreeWidget>

#include "library/document_table_model.h"
#include "main_window.h"
#include "search/search_panel.h"
#include "ui_test_util.h"
#include "viewer/pdf_view.h"
#include "viewer/text_view.h"
#include "viewer/viewer_panel.h"

using namespace lectern;

class TestViewer : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase() { window_.reset(); }
    void pdfHitOpensItsPageHighlighted();
    void textHitOpensItsLine();
    void libraryActivationOpensDocument();

private:
    QTreeWidgetItem* runSearch(const QString& query);
    void activate(QTreeWidgetItem* item);
    QTemporaryDir dir_;
    std::unique_ptr<ui::MainWindow> window_;
};

void TestViewer::initTestCase() {
    test::isolateSettings("tst_viewer");
    window_ = std::make_unique<ui::MainWindow>(test::scratchSettings(dir_));
    window_->show();
    QVERIFY(test::ingestAndWait(window_->library(), {test::samplesDir()}));
}

QTreeWidgetItem* TestViewer::runSearch(const QString& query) {
    QSignalSpy done(window_->search(), &ui::SearchPanel::searchFinished);
    window_->search()->search(query);
    if (!done.wait(20000)) return nullptr;
    QTreeWidget* results = window_->search()->results();
    return results->topLevelItemCount() > 0 ? results->topLevelItem(0) : nullptr;
}

// Select the row and press Return, as a keyboard user does.
void TestViewer::activate(QTreeWidgetItem* item) {
    QTreeWidget* results = item->treeWidget();
    results->setFocus();
    results->setCurrentItem(item);
    QTest::keyClick(results, Qt::Key_Return);
}

void TestViewer::pdfHitOpensItsPageHighlighted() {
    QVERIFY(runSearch("termination"));
    QTreeWidget* results = window_->search()->results();
    QTreeWidgetItem* hit = nullptr;
    for (int i = 0; i < results->topLevelItemCount() && !hit; ++i)
        if (results->topLevelItem(i)->text(1).startsWith("page ")) hit = results->topLevelItem(i);
    QVERIFY2(hit, "no PDF page among the hits for 'termination'");
    QCOMPARE(hit->text(0), QString("services-agreement.pdf"));
    const int page = hit->text(1).mid(5).section(' ', 0, 0).toInt();
    QVERIFY(page >= 1);
    activate(hit);
    ui::ViewerPanel* viewer = window_->viewer();
    QTRY_VERIFY_WITH_TIMEOUT(viewer->showingPdf(), 10000);
    QTRY_COMPARE_WITH_TIMEOUT(viewer->currentPage(), page, 10000);
    QTRY_VERIFY_WITH_TIMEOUT(!viewer->pdfView()->renderPending(), 10000);
    QVERIFY2(viewer->pdfView()->highlightCount() > 0,
             "the searched word is not marked on the page");

    // Page navigation.
    const int pages = viewer->pageCount();
    QVERIFY(pages >= 2);
    viewer->previousPage();
    viewer->nextPage();
    QCOMPARE(viewer->currentPage(), page);
    viewer->pdfView()->setPage(1);
    viewer->nextPage();
    QCOMPARE(viewer->currentPage(), 2);
}

void TestViewer::textHitOpensItsLine() {
    QVERIFY(runSearch("timeout"));
    QTreeWidget* results = window_->search()->results();
    QTreeWidgetItem* hit = nullptr;
    for (int i = 0; i < results->topLevelItemCount() && !hit; ++i)
        if (results->topLevelItem(i)->text(1).startsWith("line")) hit = results->topLevelItem(i);
    QVERIFY2(hit, "no line hit for 'timeout'");
    const QString where = hit->text(1);  // "line 12" or "lines 10–14"
    const int first = where.section(' ', 1, 1).section(QChar(0x2013), 0, 0).toInt();
    const int last =
        where.contains(QChar(0x2013)) ? where.section(QChar(0x2013), 1, 1).toInt() : first;
    QVERIFY(first >= 1);
    activate(hit);
    ui::ViewerPanel* viewer = window_->viewer();
    QTRY_COMPARE_WITH_TIMEOUT(viewer->highlightedLine(), first, 10000);
    QVERIFY(!viewer->showingPdf());
    // The highlighted lines of the file hold the word that was found.
    ui::TextView* text = viewer->textView();
    QString lines;
    for (int l = first; l <= last; ++l)
        lines += text->document()->findBlockByNumber(l - 1).text() + "\n";
    QVERIFY2(lines.contains("timeout", Qt::CaseInsensitive), qPrintable(where + ": " + lines));
    QCOMPARE(text->textCursor().blockNumber() + 1, first);
}

void TestViewer::libraryActivationOpensDocument() {
    ui::LibraryPanel* library = window_->library();
    const QString path = test::samplesDir() + "/source/netclient/src/client.c";
    QTRY_VERIFY_WITH_TIMEOUT(library->documentModel()->rowOfPath(path) >= 0, 10000);
    QTableView* table = library->table();
    auto* proxy = table->model();
    QModelIndex index;
    for (int r = 0; r < proxy->rowCount(); ++r)
        if (proxy->index(r, ui::DocumentTableModel::Name).data().toString() == "client.c")
            index = proxy->index(r, ui::DocumentTableModel::Name);
    QVERIFY(index.isValid());
    table->setFocus();
    table->setCurrentIndex(index);
    QTest::keyClick(table, Qt::Key_Return);
    ui::ViewerPanel* viewer = window_->viewer();
    QTRY_VERIFY_WITH_TIMEOUT(viewer->document().path.ends_with("client.c") && !viewer->showingPdf(),
                             10000);
    QTRY_VERIFY_WITH_TIMEOUT(viewer->textView()->toPlainText().contains("#include"), 10000);
}

QTEST_MAIN(TestViewer)
#include "tst_viewer.moc"
