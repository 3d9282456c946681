// The models the user can pick: every folder holding a config.json under the model
// directory (trained results land there too), plus the bundled default model when it is
// installed or present in the source tree.
#pragma once

#include <QStringList>

namespace lectern::ui {

struct ModelEntry {
    QString name;  // folder name, shown in lists
    QString path;  // folder holding config.json
};

QList<ModelEntry> findModels(const QString& modelDir);
// A folder name under modelDir that does not exist yet: base, base-2, base-3, ...
QString freshModelFolder(const QString& modelDir, const QString& base);

}  // namespace lectern::ui
