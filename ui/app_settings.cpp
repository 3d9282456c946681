// QSettings round trip of AppSettings; unknown or out-of-range values fall back to defaults.
#include "app_settings.h"

#include <QDir>
#include <QSettings>
#include <QStandardPaths>

namespace lectern::ui {

QString defaultStoreDir() {
    const QString env = qEnvironmentVariable("LECTERN_STORE");
    if (!env.isEmpty()) return env;
    return QDir::homePath() + QStringLiteral("/.local/share/lectern");
}

QString defaultModelDir() {
    const QString env = qEnvironmentVariable("LECTERN_MODELS");
    if (!env.isEmpty()) return env;
    return QDir::homePath() + QStringLiteral("/.local/share/lectern/models");
}

AppSettings AppSettings::load() {
    QSettings s;
    AppSettings a;
    a.storeDir = s.value("paths/store", defaultStoreDir()).toString();
    a.modelDir = s.value("paths/models", defaultModelDir()).toString();
    const QString device = s.value("engine/device", a.device).toString();
    if (device == "cpu" || device == "cuda" || device == "auto") a.device = device;
    a.hostBudgetMiB = qBound(64, s.value("engine/hostBudgetMiB", a.hostBudgetMiB).toInt(), 1 << 20);
    a.gpuBudgetMiB = qBound(0, s.value("engine/gpuBudgetMiB", a.gpuBudgetMiB).toInt(), 1 << 20);
    a.lastCollection = s.value("library/lastCollection").toString();
    return a;
}

void AppSettings::save() const {
    QSettings s;
    s.setValue("paths/store", storeDir);
    s.setValue("paths/models", modelDir);
    s.setValue("engine/device", device);
    s.setValue("engine/hostBudgetMiB", hostBudgetMiB);
    s.setValue("engine/gpuBudgetMiB", gpuBudgetMiB);
    s.setValue("library/lastCollection", lastCollection);
}

}  // namespace lectern::ui
