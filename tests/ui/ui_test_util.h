// Shared set-up of the GUI tests: settings isolated from the user's (QStandardPaths test
// mode and a test organisation), a scratch store and model folder, and a helper that
// ingests paths through the library panel and waits for the run to end.
#pragma once

#include <QApplication>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include "app_settings.h"
#include "library/library_panel.h"

namespace lectern::test {

inline void isolateSettings(const char* name) {
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName("LecternTests");
    QCoreApplication::setApplicationName(name);
}

inline ui::AppSettings scratchSettings(const QTemporaryDir& dir) {
    ui::AppSettings s;
    s.storeDir = dir.filePath("store");
    s.modelDir = dir.filePath("models");
    s.device = "cpu";
    s.lastCollection = "samples";
    return s;
}

inline QString samplesDir() {
    return QStringLiteral(LECTERN_SOURCE_DIR "/resources/samples");
}

// Starts an ingest of `paths` into the panel's current collection and waits for it to
// finish (up to timeoutMs); returns the finished signal's ok flag.
inline bool ingestAndWait(ui::LibraryPanel* library, const QStringList& paths,
                          int timeoutMs = 90000) {
    QSignalSpy finished(library, &ui::LibraryPanel::ingestFinished);
    if (!library->ingestPaths(paths)) return false;
    if (!finished.wait(timeoutMs)) return false;
    return finished.first().first().toBool();
}

// A tiny byte-level Mamba-3 config (as tests/training uses), written to `path`.
inline bool writeTinyConfig(const QString& path) {
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly)) return false;
    f.write(R"({"d_model": 32, "d_intermediate": 0, "n_layer": 2, "vocab_size": 256,
 "ssm_cfg": {"layer": "Mamba3", "d_state": 16, "headdim": 16, "chunk_size": 64},
 "rms_norm": true, "residual_in_fp32": true, "fused_add_norm": true,
 "pad_vocab_size_multiple": 8, "tie_embeddings": true})");
    return true;
}

}  // namespace lectern::test
