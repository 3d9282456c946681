// Build identity of the engine library, for `lectern-cli version` and bug reports.
#include "lectern/version.h"

namespace lectern {
const char* engineVersion() { return kVersionString; }
}  // namespace lectern
