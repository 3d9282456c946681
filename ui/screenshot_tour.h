// The screenshot tour behind `lectern --screenshots DIR` (scripts/screenshots.sh runs it
// under Xvfb): it ingests `paths` through the library (if any), opens a PDF page and a source file,
// runs a search, then raises each panel in turn and saves the whole window as
// DIR/<panel>.png, and quits. Used to check by eye that nothing is blank, clipped or
// overlapping.
#pragma once

#include <QStringList>

namespace lectern::ui {

class MainWindow;

// Starts the tour (asynchronously, on the event loop); the application quits when done,
// with exit code 0, or 1 after printing what failed.
void startScreenshotTour(MainWindow* window, const QString& outDir, const QStringList& paths);

}  // namespace lectern::ui
