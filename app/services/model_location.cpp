// resolveModelDir: --model, $LECTERN_MODEL, or the bundled default model.
#include "model_location.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

namespace lectern::services {
namespace fs = std::filesystem;

namespace {
const fs::path kSourceTreeModel = fs::path(LECTERN_SOURCE_DIR) / "resources/models/default";
}  // namespace

std::optional<std::string> bundledModelDir() {
    std::vector<fs::path> candidates;
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) candidates.push_back(exe.parent_path().parent_path() / "share/lectern/models/default");
    candidates.push_back(kSourceTreeModel);
    for (const fs::path& dir : candidates)
        if (fs::exists(dir / "config.json", ec)) return dir.string();
    return std::nullopt;
}

Expected<std::string> resolveModelDir(const std::string& given) {
    if (!given.empty()) {
        if (!fs::exists(given)) return Status::error("no model at " + given);
        return given;
    }
    if (const char* env = std::getenv("LECTERN_MODEL"); env && *env) {
        if (!fs::exists(env))
            return Status::error("no model at " + std::string(env) + " (from $LECTERN_MODEL)");
        return std::string(env);
    }
    if (std::optional<std::string> bundled = bundledModelDir()) return *bundled;
    return Status::error("no model given and no bundled model at " + kSourceTreeModel.string() +
                         ": pass --model DIR (a folder with config.json and model.safetensors) "
                         "or set $LECTERN_MODEL");
}

}  // namespace lectern::services
