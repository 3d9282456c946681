// Model discovery is a directory listing: no registry file to get out of step.
#include "engine/model_catalog.h"

#include <QDir>
#include <QFileInfo>

#include "services/model_location.h"

namespace lectern::ui {
namespace {

void addIfModel(QList<ModelEntry>& out, const QString& dir, const QString& name) {
    if (!QFileInfo::exists(dir + "/config.json")) return;
    const QString canonical = QFileInfo(dir).canonicalFilePath();
    for (const ModelEntry& e : out)
        if (QFileInfo(e.path).canonicalFilePath() == canonical) return;
    out.push_back({name, dir});
}

}  // namespace

QList<ModelEntry> findModels(const QString& modelDir) {
    QList<ModelEntry> out;
    if (!modelDir.isEmpty()) {
        addIfModel(out, modelDir, QFileInfo(modelDir).fileName());
        const QDir dir(modelDir);
        for (const QString& sub : dir.entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name))
            addIfModel(out, dir.filePath(sub), sub);
    }
    // The bundled model, found where the CLI finds it.
    if (const std::optional<std::string> bundled = services::bundledModelDir())
        addIfModel(out, QString::fromStdString(*bundled), QObject::tr("default (bundled)"));
    return out;
}

QString freshModelFolder(const QString& modelDir, const QString& base) {
    const QDir dir(modelDir);
    QString name = base;
    for (int i = 2; dir.exists(name); ++i) name = QStringLiteral("%1-%2").arg(base).arg(i);
    return dir.filePath(name);
}

}  // namespace lectern::ui
