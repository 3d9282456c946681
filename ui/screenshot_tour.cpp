// The tour is a chain of single-shot steps with pauses, so that renders on workers
// (PDF pages, store reads) land before each grab.
#include "screenshot_tour.h"

#include <QApplication>
#include <QDir>
#include <QPixmap>
#include <QScreen>
#include <QTimer>
#include <QTreeWidget>
#include <functional>
#include <memory>

#include "ask/ask_panel.h"
#include "engine/engine_panel.h"
#include "library/document_table_model.h"
#include "library/library_panel.h"
#include "main_window.h"
#include "search/search_panel.h"
#include "services/model_location.h"
#include "surprise/surprise_panel.h"

namespace lectern::ui {
namespace {

struct Tour {
    MainWindow* window;
    QString outDir;
    QStringList failures;
    std::vector<std::pair<int, std::function<void()>>> steps;  // pause before, action
    size_t next = 0;

    void run() {
        if (next >= steps.size()) {
            for (const QString& f : failures) fprintf(stderr, "screenshots: %s\n", qPrintable(f));
            QApplication::exit(failures.isEmpty() ? 0 : 1);
            return;
        }
        auto [pause, action] = steps[next++];
        QTimer::singleShot(pause, window, [this, action] {
            action();
            run();
        });
    }

    void shoot(const QString& name) {
        // The screen's pixels where a window system exists (Xvfb), else the widget's own
        // rendering (offscreen platform).
        QPixmap p;
        if (QScreen* screen = window->screen(); screen && QGuiApplication::platformName() == "xcb")
            p = screen->grabWindow(window->winId());
        if (p.isNull()) p = window->grab();
        const QString file = QDir(outDir).filePath(name + ".png");
        if (!p.save(file))
            failures << "cannot write " + file;
        else
            fprintf(stderr, "screenshots: %s\n", qPrintable(file));
    }
};

}  // namespace

void startScreenshotTour(MainWindow* window, const QString& outDir, const QStringList& paths) {
    auto tour = std::make_shared<Tour>();
    tour->window = window;
    tour->outDir = outDir;
    QDir().mkpath(outDir);
    Tour* t = tour.get();
    auto openByName = [t](const QString& suffix) {
        DocumentTableModel* m = t->window->library()->documentModel();
        for (int r = 0; r < m->rowCount(); ++r) {
            if (QString::fromStdString(m->document(r)->path).endsWith(suffix)) {
                JumpTarget target{m->document(r)->id};
                target.page = 2;
                target.lineStart = target.lineEnd = 0;
                t->window->openAt(target);
                return;
            }
        }
        t->failures << "no document ending in " + suffix + " in the library";
    };
    t->steps = {
        {1500, [t] { t->shoot("library"); }},
        {0, [openByName] { openByName(".pdf"); }},
        {1500, [t] { t->shoot("viewer-pdf"); }},
        {0,
         [t] {
             t->window->showPanel("search");
             t->window->search()->search("termination");
         }},
        {1500,
         [t] {
             QTreeWidget* r = t->window->search()->results();
             if (r->topLevelItemCount() > 0) {
                 r->setCurrentItem(r->topLevelItem(0));
                 emit r->itemActivated(r->topLevelItem(0), 0);
             }
         }},
        {1500, [t] { t->shoot("search"); }},
        {0, [openByName] { openByName("client.c"); }},
        {1000, [t] { t->shoot("viewer-text"); }},
        // Ask with the bundled model, so the panel shows an answer, its passages, the
        // timings and the history rather than an empty form.
        {0,
         [t] {
             if (const std::optional<std::string> dir = services::bundledModelDir())
                 t->window->engine()->loadModel(QString::fromStdString(*dir));
             else
                 t->failures << "no bundled model to ask with";
         }},
        {3000, [openByName] { openByName(".pdf"); }},
        {1500,
         [t] {
             t->window->showPanel("ask");
             t->window->ask()->ask("When may either party terminate the agreement?");
         }},
        {8000, [t] { t->shoot("ask"); }},
        {0,
         [t] {
             t->window->showPanel("surprise");
             t->window->surprise()->compute();
         }},
        {5000, [t] { t->shoot("surprise"); }},
        {0, [t] { t->window->showPanel("engine"); }},
        {1500, [t] { t->shoot("engine"); }},
        {0, [t] { t->window->showPanel("training"); }},
        {500, [t] { t->shoot("training"); }},
    };
    // The tour owns itself until the application quits.
    QObject::connect(qApp, &QCoreApplication::aboutToQuit, [tour] {});
    if (paths.isEmpty()) {
        t->run();
        return;
    }
    // Ingest first (the store's collection list must be read before a run can start).
    QTimer::singleShot(1000, window, [t, paths] {
        LibraryPanel* library = t->window->library();
        QObject::connect(
            library, &LibraryPanel::ingestFinished, t->window,
            [t](bool ok) {
                if (!ok) t->failures << "the ingest failed: " + t->window->library()->statusText();
                t->run();
            },
            Qt::SingleShotConnection);
        if (!library->ingestPaths(paths)) {
            t->failures << "the ingest did not start: " + library->statusText();
            t->run();
        }
    });
}

}  // namespace lectern::ui
