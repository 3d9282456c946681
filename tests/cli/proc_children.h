// Finding a process's children through /proc, for the checks that no PDF worker outlives
// the lectern-cli that started it (RELIABILITY CRASH-2).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace lectern::testing {

// Live (not zombie) processes whose parent is `parent` and whose name (comm, at most 15
// characters) starts with `namePrefix`.
std::vector<pid_t> childProcesses(pid_t parent, const std::string& namePrefix);

// Makes this process the reaper of orphaned descendants (PR_SET_CHILD_SUBREAPER), so a
// worker whose parent was killed becomes our child and can be watched and reaped.
bool becomeSubreaper();

// Waits up to `ms` for our child `pid` to exit; reaps it. False if still running (then it is
// killed and reaped, so no test leaves a process behind).
bool exitsWithin(pid_t pid, int ms);

}  // namespace lectern::testing
