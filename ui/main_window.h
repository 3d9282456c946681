// The main window: the viewer in the centre, the library and search docked on the left,
// ask, surprise, engine and training docked (tabbed) on the right. It wires the panels to
// each other (jump to page/line from search hits, passages and surprise spans; trained
// models into the engine) and applies the settings. Window geometry and dock layout are
// restored from QSettings.
#pragma once

#include <QDockWidget>
#include <QMainWindow>

#include "app_settings.h"
#include "viewer/viewer_panel.h"

namespace lectern::ui {

class AskPanel;
class EnginePanel;
class EngineServices;
class LibraryPanel;
class SearchPanel;
class SurprisePanel;
class TrainingPanel;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(const AppSettings& settings, QWidget* parent = nullptr);

    void applySettings(const AppSettings& settings);
    const AppSettings& settings() const { return settings_; }
    // Opens the document at the target (page or lines, words highlighted).
    void openAt(const JumpTarget& target);
    // Ingests files or folders into the current collection once the library has read the
    // store (the command line's --add).
    void addPaths(const QStringList& paths);
    // Brings a panel to the front: "library", "search", "viewer", "ask", "surprise",
    // "engine", "training" (the screenshot script uses this).
    bool showPanel(const QString& name);

    LibraryPanel* library() const { return library_; }
    ViewerPanel* viewer() const { return viewer_; }
    SearchPanel* search() const { return search_; }
    AskPanel* ask() const { return ask_; }
    SurprisePanel* surprise() const { return surprise_; }
    EnginePanel* engine() const { return engine_; }
    TrainingPanel* training() const { return training_; }
    EngineServices* services() const { return services_; }

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    QDockWidget* dock(QWidget* panel, const QString& title, const QString& objectName,
                      Qt::DockWidgetArea area);
    void buildMenus();
    void wirePanels();
    void editSettings();
    void restoreWindowState();
    void refreshCacheTiers();

    AppSettings settings_;
    LibraryPanel* library_ = nullptr;
    ViewerPanel* viewer_ = nullptr;
    SearchPanel* search_ = nullptr;
    AskPanel* ask_ = nullptr;
    SurprisePanel* surprise_ = nullptr;
    EnginePanel* engine_ = nullptr;
    TrainingPanel* training_ = nullptr;
    EngineServices* services_ = nullptr;
    QHash<QString, QDockWidget*> docks_;
    int openGeneration_ = 0;
};

}  // namespace lectern::ui
