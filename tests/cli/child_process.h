// Runs the real lectern-cli as a child process for CLI, crash, interrupt and memory
// tests: environment overrides, an optional RLIMIT_FSIZE (disk-full without root) or
// RLIMIT_AS (out of memory), stdout read line by line while it runs, signals, and the
// child's rusage at the end.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace lectern::testing {

struct ChildOptions {
    std::map<std::string, std::string> env;  // added to (or replacing in) the environment
    long long fileSizeLimit = -1;            // RLIMIT_FSIZE in bytes; SIGXFSZ is ignored
    long long addressSpaceLimit = -1;        // RLIMIT_AS in bytes (never under ASan)
};

struct ChildResult {
    int exitCode = -1;  // -1 when killed by a signal
    int signal = 0;
    std::string out;  // all of stdout
    std::string err;  // all of stderr
    struct rusage usage = {};
    bool timedOut = false;
};

class Child {
public:
    Child(const std::vector<std::string>& args, const ChildOptions& options = {});
    ~Child();
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    bool started() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }
    // Reads whatever stdout has produced, waiting at most `ms`; returns the new text.
    std::string readOut(int ms);
    void sendSignal(int signal);
    // Waits for the exit (killing it with SIGKILL after `timeoutMs`) and collects output.
    ChildResult wait(int timeoutMs = 300000);

private:
    pid_t pid_ = -1;
    int outFd_ = -1;
    std::string errPath_;
    std::string outSoFar_;
};

ChildResult runChild(const std::vector<std::string>& args, const ChildOptions& options = {},
                     int timeoutMs = 300000);

}  // namespace lectern::testing
