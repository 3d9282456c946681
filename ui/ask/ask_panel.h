// Ask: a question over the current document or collection (a document with pages may be
// asked "as of page N": the state after that page, passages from pages up to N), the
// answer streamed as the model generates it, the supporting passages (a click opens the
// viewer there), the history per collection or document (kept in the store, so it
// survives a restart; AskHistoryView), and the timings (first token, tokens/s, state
// resident or restored).
// Backed by the ask service of app/services; where that is not built, the panel says so
// and asks nothing.
#pragma once

#include <QWidget>
#include <atomic>
#include <memory>

#include "store/ask_history.h"
#include "viewer/viewer_panel.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTextBrowser;
class QTreeWidget;

namespace lectern::ui {

class AskHistoryView;
class EngineServices;

class AskPanel : public QWidget {
    Q_OBJECT
public:
    explicit AskPanel(QWidget* parent = nullptr);

    void setStoreDir(const QString& storeDir);
    void setCollection(const QString& collection);
    // pageCount > 0: the document has pages and may be asked as of one of them.
    void setDocument(qint64 documentId, const QString& name, int pageCount = 0);
    void setAsOfPage(int page);  // 0: all pages
    int asOfPage() const;
    void setServices(EngineServices* services) { services_ = services; }
    void ask(const QString& question);
    void focusQuestion();

    bool available() const { return services_ != nullptr; }
    bool busy() const { return bool(cancel_); }
    void cancel();
    QString answerText() const;
    QTreeWidget* passages() const { return passages_; }
    AskHistoryView* history() const { return history_; }
    QString statusText() const;
    QString timingsText() const;

signals:
    void passageActivated(const lectern::ui::JumpTarget& target);
    void answered(double tokensPerSecond);
    void finished(bool ok);

private:
    void showUnavailable(const QString& why);
    void setAsking(bool asking);
    void appendAnswer(int generation, const QString& text);
    struct Outcome;
    void showOutcome(int generation, const std::shared_ptr<Outcome>& outcome);
    void showPassages(const std::vector<store::AskPassageRef>& passages);
    void showRecord(const store::AskRecord& record);
    void scopeChanged();

    EngineServices* services_ = nullptr;
    std::shared_ptr<std::atomic<bool>> cancel_;
    int generation_ = 0;
    QString storeDir_, collection_, documentName_;
    qint64 documentId_ = 0;
    int pageCount_ = 0;
    QComboBox* scope_ = nullptr;
    QLineEdit* question_ = nullptr;
    QSpinBox* asOfPage_ = nullptr;
    QPushButton* ask_ = nullptr;
    QTextBrowser* answer_ = nullptr;
    QTreeWidget* passages_ = nullptr;
    AskHistoryView* history_ = nullptr;
    QLabel* timings_ = nullptr;
    QLabel* status_ = nullptr;
};

}  // namespace lectern::ui
