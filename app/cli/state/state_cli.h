// Shared by the state commands (prefill, state): open the store and, when needed, the
// model and its state cache, reporting failures on stderr the way every command does.
#pragma once

#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "cli/command.h"
#include "model_location.h"
#include "state_cache.h"
#include "store.h"
#include "store_location.h"

namespace lectern::cli {

struct CacheHandle {
    std::optional<Model> model;  // declared first: the cache refers to it
    std::unique_ptr<services::StateCache> cache;
};

inline int stateFail(const char* command, const std::string& message) {
    std::fprintf(stderr, "lectern-cli %s: %s\n", command, message.c_str());
    return kExitFailure;
}

inline DeviceKind parseDevice(const std::string& device) {
    return device == "cuda"   ? DeviceKind::Cuda
           : device == "auto" ? DeviceKind::Auto
                              : DeviceKind::Cpu;
}

// Loads the model (--model, $LECTERN_MODEL or the bundled one) and opens its cache over the
// store; on failure prints why and returns an error status.
inline Status openCache(const GlobalOptions& globals, const std::string& modelArg,
                        const std::string& device, services::CacheOptions options,
                        CacheHandle& out) {
    Expected<std::filesystem::path> dir = store::resolveStoreDir(globals.storeDir);
    if (!dir) return dir.status();
    Expected<std::string> modelDir = services::resolveModelDir(modelArg);
    if (!modelDir) return modelDir.status();
    Expected<Model> model = Model::load(*modelDir, parseDevice(device));
    if (!model) return model.status();
    Expected<services::TextCodec> codec = services::TextCodec::forModel(*modelDir);
    if (!codec) return codec.status();
    out.model.emplace(std::move(*model));
    options.storeDir = *dir;
    Expected<std::unique_ptr<services::StateCache>> cache =
        services::StateCache::open(*out.model, std::move(*codec), options);
    if (!cache) return cache.status();
    out.cache = std::move(*cache);
    return Status::ok();
}

inline std::string mebibytes(int64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / (1024.0 * 1024.0));
    return buf;
}

}  // namespace lectern::cli
