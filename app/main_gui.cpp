// `lectern`: the desktop application's composition root. Sets the application identity
// (QSettings location), high-DPI scaling and the icon, reads the command line, loads the
// settings and shows the main window; everything else lives in lectern_ui.
//   lectern [--store DIR] [--models DIR] [--collection NAME] [--add PATH]... [--screenshots OUTDIR]
// --store/--models/--collection override the saved settings for this run; --add ingests
// files or folders into the collection at start; --screenshots runs the screenshot tour
// (scripts/screenshots.sh, after the --add ingest) and quits.
#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>

#include "app_settings.h"
#include "lectern/version.h"
#include "main_window.h"
#include "screenshot_tour.h"

int main(int argc, char** argv) {
    // Fractional scale factors (1.25, 1.5) as the desktop asks, not rounded to integers.
    QApplication::setHighDpiScaleFactorRoundingPolicy(
        Qt::HighDpiScaleFactorRoundingPolicy::PassThrough);
    QApplication app(argc, argv);
    QApplication::setOrganizationName("Lectern");
    QApplication::setApplicationName("lectern");
    QApplication::setApplicationDisplayName("Lectern");
    QApplication::setApplicationVersion(lectern::kVersionString);
    QApplication::setDesktopFileName("org.lectern.Lectern");

    QCommandLineParser parser;
    parser.setApplicationDescription("Read very long material whole, locally.");
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption store("store", "The store folder for this run.", "DIR");
    const QCommandLineOption models("models", "The model folder for this run.", "DIR");
    const QCommandLineOption collection("collection", "The collection to show.", "NAME");
    const QCommandLineOption add("add", "Ingest a file or folder into the collection.", "PATH");
    const QCommandLineOption shots("screenshots", "Save a PNG of each panel, then quit.", "DIR");
    parser.addOptions({store, models, collection, add, shots});
    parser.process(app);

    lectern::ui::AppSettings settings = lectern::ui::AppSettings::load();
    if (parser.isSet(store)) settings.storeDir = parser.value(store);
    if (parser.isSet(models)) settings.modelDir = parser.value(models);
    if (parser.isSet(collection)) settings.lastCollection = parser.value(collection);
    lectern::ui::MainWindow window(settings);
    window.show();
    const QStringList paths = parser.values(add);
    if (parser.isSet(shots)) {
        lectern::ui::startScreenshotTour(&window, parser.value(shots), paths);
    } else if (!paths.isEmpty()) {
        window.addPaths(paths);
    }
    return app.exec();
}
