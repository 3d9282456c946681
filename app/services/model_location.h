// Where the model comes from when a command is given none: $LECTERN_MODEL, else the
// bundled default (resources/models/default in the source tree, or share/lectern/models/
// default beside an installed binary). A clear error when there is none.
#pragma once

#include <optional>
#include <string>

#include "lectern/status.h"

namespace lectern::services {

// The bundled model: share/lectern/models/default beside the installed binary, else
// resources/models/default in the source tree; nullopt when neither has a config.json.
std::optional<std::string> bundledModelDir();

// `given` (the --model value) when not empty; else the default, if it exists.
Expected<std::string> resolveModelDir(const std::string& given);

}  // namespace lectern::services
