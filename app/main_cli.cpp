// lectern-cli: every Lectern job, headless. The sub-commands live in app/cli/*/cmd_*.cpp.
#include <algorithm>
#include <cstdio>
#include <map>

#include "cli/command.h"
#include "lectern/version.h"

namespace lectern::cli {
std::vector<Command>& commandRegistry() {
    static std::vector<Command> commands;
    return commands;
}
}  // namespace lectern::cli

int main(int argc, char** argv) {
    using namespace lectern::cli;
    CLI::App app{"Lectern: read very long material whole, locally", "lectern-cli"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("lectern-cli ") + lectern::kVersionString);

    GlobalOptions globals;
    app.add_option("--store", globals.storeDir,
                   "store directory (default: $LECTERN_STORE or ~/.local/share/lectern)");

    auto& registry = commandRegistry();
    std::sort(registry.begin(), registry.end(),
              [](const Command& a, const Command& b) { return a.name < b.name; });
    std::map<CLI::App*, std::function<int()>> runners;
    for (const Command& command : registry) {
        CLI::App* sub = app.add_subcommand(command.name, command.description);
        sub->fallthrough();  // --store may come after the sub-command name
        runners[sub] = command.setup(*sub, globals);
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? kExitOk : kExitUsage;
    }
    for (auto& [sub, run] : runners) {
        if (sub->parsed()) return run();
    }
    return kExitUsage;
}
