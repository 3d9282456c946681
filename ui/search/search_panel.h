// Full-text search over the current collection (the store's FTS5 index): ranked passages
// with their page or line reference and snippet; activating one opens the viewer there
// with the query's words highlighted.
#pragma once

#include <QWidget>

#include "viewer/viewer_panel.h"

class QLabel;
class QLineEdit;
class QTreeWidget;

namespace lectern::ui {

class SearchPanel : public QWidget {
    Q_OBJECT
public:
    explicit SearchPanel(QWidget* parent = nullptr);
    void setStoreDir(const QString& storeDir) { storeDir_ = storeDir; }
    void setCollection(const QString& collection) { collection_ = collection; }
    void search(const QString& query);
    void focusQuery();
    QTreeWidget* results() const { return results_; }
    QString statusText() const;

signals:
    void hitActivated(const lectern::ui::JumpTarget& target);
    void searchFinished(int hits);

private:
    QString storeDir_, collection_;
    QLineEdit* query_ = nullptr;
    QTreeWidget* results_ = nullptr;
    QLabel* status_ = nullptr;
    int generation_ = 0;
};

// "page 3" / "lines 10–14" for a hit.
QString hitReference(const store::SearchHit& hit);
// The hit's target in the viewer.
JumpTarget hitTarget(const store::SearchHit& hit, const QString& terms);

}  // namespace lectern::ui
