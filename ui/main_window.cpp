// MainWindow: construction, menus with shortcuts, panel wiring, settings, window state.
#include "main_window.h"

#include <QApplication>
#include <QCloseEvent>
#include <QDateTime>
#include <QFileInfo>
#include <QMenuBar>
#include <QMessageBox>
#include <QPointer>
#include <QScreen>
#include <QSettings>
#include <QStatusBar>
#include <QTimer>

#include "ask/ask_panel.h"
#include "async.h"
#include "engine/engine_panel.h"
#include "engine/engine_services.h"
#include "lectern/version.h"
#include "library/document_table_model.h"
#include "library/library_panel.h"
#include "library/library_reader.h"
#include "search/search_panel.h"
#include "settings_dialog.h"
#include "surprise/surprise_panel.h"
#include "training/training_panel.h"

// The icon's resource lives in the static lectern_ui library, whose registration the
// linker would drop; Q_INIT_RESOURCE must be called outside any namespace.
static void initResources() {
    Q_INIT_RESOURCE(lectern);
}

namespace lectern::ui {

MainWindow::MainWindow(const AppSettings& settings, QWidget* parent) : QMainWindow(parent) {
    initResources();
    setWindowTitle(tr("Lectern"));
    setWindowIcon(QIcon(QStringLiteral(":/lectern/icons/lectern.svg")));
    setObjectName("mainWindow");
    viewer_ = new ViewerPanel(this);
    setCentralWidget(viewer_);
    library_ = new LibraryPanel(this);
    search_ = new SearchPanel(this);
    ask_ = new AskPanel(this);
    surprise_ = new SurprisePanel(this);
    engine_ = new EnginePanel(this);
    training_ = new TrainingPanel(this);
    services_ = new EngineServices(this);
    ask_->setServices(services_);
    surprise_->setServices(services_);
    dock(library_, tr("Library"), "library", Qt::LeftDockWidgetArea);
    dock(search_, tr("Search"), "search", Qt::LeftDockWidgetArea);
    dock(ask_, tr("Ask"), "ask", Qt::RightDockWidgetArea);
    dock(surprise_, tr("Surprise"), "surprise", Qt::RightDockWidgetArea);
    dock(engine_, tr("Engine"), "engine", Qt::RightDockWidgetArea);
    dock(training_, tr("Training"), "training", Qt::RightDockWidgetArea);
    tabifyDockWidget(docks_["ask"], docks_["surprise"]);
    tabifyDockWidget(docks_["ask"], docks_["engine"]);
    tabifyDockWidget(docks_["ask"], docks_["training"]);
    docks_["ask"]->raise();
    buildMenus();
    wirePanels();
    statusBar()->showMessage(tr("Lectern %1").arg(kVersionString));
    // First start: most of the screen, the viewer in the middle with the most room.
    const QRect screen = QGuiApplication::primaryScreen()
                             ? QGuiApplication::primaryScreen()->availableGeometry()
                             : QRect(0, 0, 1280, 800);
    resize(qMax(900, screen.width() * 9 / 10), qMax(600, screen.height() * 9 / 10));
    resizeDocks({docks_["library"], docks_["ask"]}, {width() * 26 / 100, width() * 27 / 100},
                Qt::Horizontal);
    restoreWindowState();
    applySettings(settings);
}

QDockWidget* MainWindow::dock(QWidget* panel, const QString& title, const QString& objectName,
                              Qt::DockWidgetArea area) {
    auto* d = new QDockWidget(title, this);
    d->setObjectName(objectName + "Dock");  // saveState needs stable names
    d->setWidget(panel);
    d->setAccessibleName(title);
    panel->setAccessibleName(title + tr(" panel"));
    addDockWidget(area, d);
    docks_[objectName] = d;
    return d;
}

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("Add &files…"), QKeySequence::Open, library_, &LibraryPanel::addFiles);
    file->addAction(tr("Add f&older or repository…"),
                    QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O), library_,
                    &LibraryPanel::addFolder);
    file->addAction(tr("&Settings…"), QKeySequence::Preferences, this, &MainWindow::editSettings);
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

    QMenu* go = menuBar()->addMenu(tr("&Go"));
    go->addAction(tr("&Find in document"), QKeySequence::Find, viewer_, &ViewerPanel::focusFind);
    go->addAction(tr("&Search collection"), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_F), this,
                  [this] {
                      showPanel("search");
                      search_->focusQuery();
                  });
    go->addAction(tr("&Ask a question"), QKeySequence(Qt::CTRL | Qt::Key_L), this, [this] {
        showPanel("ask");
        ask_->focusQuestion();
    });
    go->addSeparator();
    go->addAction(tr("&Next page"), QKeySequence(Qt::Key_PageDown), viewer_,
                  &ViewerPanel::nextPage);
    go->addAction(tr("&Previous page"), QKeySequence(Qt::Key_PageUp), viewer_,
                  &ViewerPanel::previousPage);
    go->addAction(tr("Zoom &in"), QKeySequence::ZoomIn, viewer_, &ViewerPanel::zoomIn);
    go->addAction(tr("Zoom &out"), QKeySequence::ZoomOut, viewer_, &ViewerPanel::zoomOut);

    QMenu* view = menuBar()->addMenu(tr("&View"));
    int key = Qt::Key_1;
    for (const char* name : {"library", "search", "ask", "surprise", "engine", "training"}) {
        QAction* toggle = docks_[name]->toggleViewAction();
        toggle->setShortcut(QKeySequence(Qt::ALT | Qt::Key(key++)));
        view->addAction(toggle);
    }
    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About Lectern"), this, [this] {
        QMessageBox::about(this, tr("About Lectern"),
                           tr("<b>Lectern %1</b><p>Reads very long material whole, locally, "
                              "with an in-process Mamba-3 model. Nothing leaves the machine.")
                               .arg(kVersionString));
    });
}

void MainWindow::wirePanels() {
    connect(library_, &LibraryPanel::collectionChanged, this, [this](const QString& c) {
        search_->setCollection(c);
        ask_->setCollection(c);
        training_->setCollection(c);
        settings_.lastCollection = c;
    });
    connect(library_, &LibraryPanel::documentActivated, this,
            [this](qint64 id) { openAt(JumpTarget{id}); });
    connect(search_, &SearchPanel::hitActivated, this, &MainWindow::openAt);
    connect(ask_, &AskPanel::passageActivated, this, &MainWindow::openAt);
    connect(surprise_, &SurprisePanel::spanActivated, this, &MainWindow::openAt);
    connect(surprise_, &SurprisePanel::overlayChanged, viewer_, &ViewerPanel::setSurpriseTints);
    connect(viewer_, &ViewerPanel::documentOpened, this, [this](qint64) {
        const store::DocumentInfo& d = viewer_->document();
        ask_->setDocument(d.id, QFileInfo(QString::fromStdString(d.path)).fileName(),
                          int(d.pageCount));
        surprise_->setDocument(d);
    });
    connect(engine_, &EnginePanel::modelLoaded, this, [this](ModelPtr model, const QString& path) {
        services_->setModel(model, path);
        statusBar()->showMessage(tr("Model loaded: %1").arg(path), 5000);
        refreshCacheTiers();
    });
    // The cache's tiers change as questions are asked; a light poll keeps the panel current.
    auto* poll = new QTimer(this);
    poll->setInterval(3000);
    connect(poll, &QTimer::timeout, this, [this] {
        if (engine_->isVisible()) refreshCacheTiers();
    });
    poll->start();
    connect(engine_, &EnginePanel::deviceChanged, this, [this](const QString& device) {
        settings_.device = device;
        settings_.save();
    });
    connect(training_, &TrainingPanel::modelTrained, this, [this](const QString& path) {
        engine_->refreshModels();
        statusBar()->showMessage(tr("Trained model ready: %1 (Engine: Load)").arg(path), 8000);
    });
    connect(training_, &TrainingPanel::throughputMeasured, this, [this](double tps) {
        // One line per run slice would flood the list; keep the latest per second.
        static qint64 last = 0;
        const qint64 now = QDateTime::currentSecsSinceEpoch();
        if (now - last >= 5) engine_->recordThroughput(tr("training"), tps);
        last = now;
    });
    connect(ask_, &AskPanel::answered, this,
            [this](double tps) { engine_->recordThroughput(tr("answer"), tps); });
}

void MainWindow::refreshCacheTiers() {
    if (!services_->hasModel()) return;
    QPointer<EnginePanel> engine = engine_;
    services_->run([engine](ServicesContext* c, const QString& error) {
        QStringList lines;
        if (!c) {
            lines << tr("Not available: %1").arg(error);
        } else {
            const services::TierStats t = c->cache->stats();
            auto line = [](const QString& tier, int64_t count, int64_t bytes, int64_t budget) {
                return tr("%1: %2 states, %3 of %4")
                    .arg(tier)
                    .arg(count)
                    .arg(formatBytes(bytes), formatBytes(budget));
            };
            lines << line(tr("Resident (ready to answer)"), t.residentCount, t.residentBytes,
                          t.residentBudget)
                  << line(tr("Host memory"), t.hostCount, t.hostBytes, t.hostBudget)
                  << line(tr("Disk"), t.diskCount, t.diskBytes, t.diskBudget);
        }
        if (!engine) return;
        QMetaObject::invokeMethod(
            engine,
            [engine, lines] {
                if (engine) engine->setCacheTiers(lines);
            },
            Qt::QueuedConnection);
    });
}

void MainWindow::applySettings(const AppSettings& settings) {
    settings_ = settings;
    services_->setStoreDir(settings.storeDir);
    services_->setBudgets(settings.hostBudgetMiB, settings.gpuBudgetMiB);
    viewer_->setStoreDir(settings.storeDir);
    search_->setStoreDir(settings.storeDir);
    ask_->setStoreDir(settings.storeDir);
    training_->setStoreDir(settings.storeDir);
    training_->setModelDir(settings.modelDir);
    engine_->setDevice(settings.device);
    engine_->setModelDir(settings.modelDir);
    library_->setStoreDir(settings.storeDir);
    library_->setCurrentCollection(settings.lastCollection);
}

void MainWindow::openAt(const JumpTarget& target) {
    if (target.documentId <= 0) return;
    if (target.documentId == viewer_->documentId()) {
        viewer_->jumpTo(viewer_->document(), target);
        return;
    }
    const QString dir = settings_.storeDir;
    const int generation = ++openGeneration_;
    runAsync(
        this, [dir, id = target.documentId] { return readDocument(dir, id); },
        [this, generation, target](Expected<store::DocumentInfo> doc) {
            if (generation != openGeneration_) return;
            if (!doc) {
                statusBar()->showMessage(
                    tr("Cannot open the document: %1").arg(QString::fromStdString(doc.error())));
                return;
            }
            viewer_->jumpTo(*doc, target);
        });
}

void MainWindow::addPaths(const QStringList& paths) {
    QTimer::singleShot(500, library_, [this, paths] { library_->ingestPaths(paths); });
}

bool MainWindow::showPanel(const QString& name) {
    if (name == "viewer") {
        viewer_->setFocus();
        return true;
    }
    QDockWidget* d = docks_.value(name);
    if (!d) return false;
    d->show();
    d->raise();
    return true;
}

void MainWindow::editSettings() {
    SettingsDialog dialog(settings_, this);
    if (dialog.exec() != QDialog::Accepted) return;
    AppSettings s = dialog.settings();
    s.save();
    applySettings(s);
}

void MainWindow::restoreWindowState() {
    QSettings s;
    restoreGeometry(s.value("window/geometry").toByteArray());
    restoreState(s.value("window/state").toByteArray());
}

void MainWindow::closeEvent(QCloseEvent* event) {
    QSettings s;
    s.setValue("window/geometry", saveGeometry());
    s.setValue("window/state", saveState());
    settings_.save();
    QMainWindow::closeEvent(event);
}

}  // namespace lectern::ui
