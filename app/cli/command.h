// The lectern-cli sub-command registry. Each cmd_<name>.cpp registers itself with a
// static CommandRegistration, so adding a command is adding a file; main_cli.cpp stays
// a thin composition root. Commands return the process exit code (see exit_codes below).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace lectern::cli {

// Documented exit codes of lectern-cli.
enum ExitCode : int {
    kExitOk = 0,
    kExitFailure = 1,        // the job ran but failed (message on stderr)
    kExitUsage = 2,          // bad command line
    kExitPartial = 3,        // finished, but some inputs failed (see `status`)
    kExitInterrupted = 130,  // stopped by Ctrl-C after committing what was done
};

struct GlobalOptions {
    std::string storeDir;  // --store; empty means $LECTERN_STORE or the XDG default
};

// setup() adds the sub-command's options to `sub` and returns the function to run when
// that sub-command was chosen.
struct Command {
    std::string name;
    std::string description;
    std::function<std::function<int()>(CLI::App& sub, const GlobalOptions& globals)> setup;
};

std::vector<Command>& commandRegistry();

struct CommandRegistration {
    explicit CommandRegistration(Command c) { commandRegistry().push_back(std::move(c)); }
};

}  // namespace lectern::cli
