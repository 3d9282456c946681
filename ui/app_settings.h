// The user's settings, persisted with QSettings (organisation "Lectern", application
// "lectern"): where the store and the models live, the compute device, the state cache's
// memory budgets. One small value type so panels read a snapshot and the settings dialog
// writes it back.
#pragma once

#include <QString>

namespace lectern::ui {

struct AppSettings {
    QString storeDir;
    QString modelDir;
    QString device = QStringLiteral("auto");  // cpu | cuda | auto
    int hostBudgetMiB = 1024;                 // resident document states in host memory
    int gpuBudgetMiB = 2048;                  // resident document states in GPU memory
    QString lastCollection;

    static AppSettings load();
    void save() const;
};

// The store directory used when the settings name none: $LECTERN_STORE, else
// ~/.local/share/lectern (the CLI's default too).
QString defaultStoreDir();
QString defaultModelDir();

}  // namespace lectern::ui
