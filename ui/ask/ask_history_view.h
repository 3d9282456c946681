// The ask panel's history list: the questions asked of the current collection (or of the
// current document), newest first, read from the store off the GUI thread, so they survive
// a restart. Activating one shows its stored answer, passages and timings again; Clear
// deletes what the list shows.
#pragma once

#include <QWidget>
#include <vector>

#include "store/ask_history.h"

class QLabel;
class QListWidget;
class QPushButton;

namespace lectern::ui {

class AskHistoryView : public QWidget {
    Q_OBJECT
public:
    explicit AskHistoryView(QWidget* parent = nullptr);

    // Shows the history of `collection` (documentId -1: all of it; > 0: that document's);
    // name is the document's name for the label.
    void setScope(const QString& storeDir, const QString& collection, int64_t documentId,
                  const QString& documentName);
    void reload();
    // A record just saved for the shown scope goes on top without a store read.
    void prepend(const store::AskRecord& record);
    void clear();  // deletes the shown scope's history from the store

    int count() const;
    const store::AskRecord* record(int row) const;
    QListWidget* list() const { return list_; }

signals:
    void recordActivated(const lectern::store::AskRecord& record);
    void loaded(bool ok);
    void cleared(bool ok);

private:
    void show(std::vector<store::AskRecord> records);
    QString itemText(const store::AskRecord& r) const;

    QString storeDir_, collection_, documentName_;
    int64_t documentId_ = -1;
    int generation_ = 0;    // drops reads overtaken by a newer scope
    bool loading_ = false;  // a read is under way
    std::vector<store::AskRecord> records_;
    QLabel* label_ = nullptr;
    QListWidget* list_ = nullptr;
    QPushButton* clear_ = nullptr;
};

}  // namespace lectern::ui
