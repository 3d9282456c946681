// Surprise map: the most surprising passages of the open document (mean bits per token
// of a line, sentence or page, from the surprise service of app/services, stored in the
// store per model), ranked; a click opens the viewer there, and the viewer tints lines or
// pages by the same scores. A stored map for the loaded model is shown on opening a
// document; Compute makes one (a full read of the document, on the engine thread).
#pragma once

#include <QHash>
#include <QWidget>
#include <atomic>
#include <memory>

#include "viewer/viewer_panel.h"

class QLabel;
class QPushButton;
class QTreeWidget;

namespace lectern::ui {

class EngineServices;

class SurprisePanel : public QWidget {
    Q_OBJECT
public:
    explicit SurprisePanel(QWidget* parent = nullptr);
    void setServices(EngineServices* services) { services_ = services; }
    void setDocument(const store::DocumentInfo& doc);
    void compute();
    bool available() const { return services_ != nullptr; }
    bool busy() const { return bool(cancel_); }
    QTreeWidget* ranked() const { return ranked_; }
    QString statusText() const;
    struct Loaded;

signals:
    void spanActivated(const lectern::ui::JumpTarget& target);
    // Page → 0..1 and line → 0..1 tints for the viewer's overlay.
    void overlayChanged(const QHash<int, double>& pageTints, const QHash<int, double>& lineTints);
    void loaded(bool ok);

private:
    void load(bool computeIfMissing);
    void show(int generation, const std::shared_ptr<Loaded>& result);

    EngineServices* services_ = nullptr;
    store::DocumentInfo doc_;
    std::shared_ptr<std::atomic<bool>> cancel_;
    int generation_ = 0;
    QTreeWidget* ranked_ = nullptr;
    QPushButton* compute_ = nullptr;
    QLabel* status_ = nullptr;
};

}  // namespace lectern::ui
