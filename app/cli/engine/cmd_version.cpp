// `lectern-cli version`: the version and the build's capabilities (CUDA, ingest).
#include <cstdio>

#include "cli/command.h"
#include "lectern/version.h"

namespace lectern::cli {
namespace {
const CommandRegistration registration{{
    "version",
    "Show the version and what this build can do",
    [](CLI::App&, const GlobalOptions&) -> std::function<int()> {
        return [] {
            std::printf("lectern-cli %s\ncuda backend: %s\ningest: %s\n", kVersionString,
                        kBuiltWithCuda ? "built" : "not built",
                        kBuiltWithIngest ? "built" : "not built");
            return int(kExitOk);
        };
    },
}};
}  // namespace
}  // namespace lectern::cli
