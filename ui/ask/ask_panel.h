// Ask: a question over the current document or collection, the answer streamed as the
// model generates it, the supporting passages (a click opens the viewer there), a history
// per collection, and the timings (first token, tokens/s, state resident or restored).
// Backed by the ask service of app/services; where that is not built, the panel says so
// and asks nothing.
#pragma once

#include <QHash>
#include <QWidget>
#include <atomic>
#include <memory>

#include "viewer/viewer_panel.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QPushButton;
class QTextBrowser;
class QTreeWidget;

namespace lectern::ui {

class EngineServices;

class AskPanel : public QWidget {
    Q_OBJECT
public:
    explicit AskPanel(QWidget* parent = nullptr);

    void setStoreDir(const QString& storeDir) { storeDir_ = storeDir; }
    void setCollection(const QString& collection);
    void setDocument(qint64 documentId, const QString& name);
    void setServices(EngineServices* services) { services_ = services; }
    void ask(const QString& question);
    void focusQuestion();

    bool available() const { return services_ != nullptr; }
    bool busy() const { return bool(cancel_); }
    void cancel();
    QString answerText() const;
    QTreeWidget* passages() const { return passages_; }
    QString statusText() const;

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

    EngineServices* services_ = nullptr;
    std::shared_ptr<std::atomic<bool>> cancel_;
    int generation_ = 0;
    QString storeDir_, collection_;
    qint64 documentId_ = 0;
    QComboBox* scope_ = nullptr;
    QLineEdit* question_ = nullptr;
    QPushButton* ask_ = nullptr;
    QTextBrowser* answer_ = nullptr;
    QTreeWidget* passages_ = nullptr;
    QListWidget* history_ = nullptr;
    QLabel* timings_ = nullptr;
    QLabel* status_ = nullptr;
    QHash<QString, QStringList> historyByCollection_;
};

}  // namespace lectern::ui
