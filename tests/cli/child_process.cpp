// Child processes for the CLI tests; see child_process.h.
#include "child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

namespace lectern::testing {

Child::Child(const std::vector<std::string>& args, const ChildOptions& options) {
    char errTemplate[] = "/tmp/lectern-child-err.XXXXXX";
    const int errFd = mkstemp(errTemplate);
    errPath_ = errTemplate;
    int pipeFds[2];
    if (errFd < 0 || pipe2(pipeFds, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
        dup2(pipeFds[1], STDOUT_FILENO);
        dup2(errFd, STDERR_FILENO);
        for (const auto& [key, value] : options.env) setenv(key.c_str(), value.c_str(), 1);
        if (options.fileSizeLimit >= 0) {
            signal(SIGXFSZ, SIG_IGN);
            struct rlimit limit = {rlim_t(options.fileSizeLimit), rlim_t(options.fileSizeLimit)};
            setrlimit(RLIMIT_FSIZE, &limit);
        }
        if (options.addressSpaceLimit >= 0) {
            struct rlimit limit = {rlim_t(options.addressSpaceLimit),
                                   rlim_t(options.addressSpaceLimit)};
            setrlimit(RLIMIT_AS, &limit);
        }
        std::vector<char*> argv;
        for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
    close(pipeFds[1]);
    close(errFd);
    outFd_ = pipeFds[0];
}

Child::~Child() {
    if (pid_ > 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    if (outFd_ >= 0) close(outFd_);
    if (!errPath_.empty()) unlink(errPath_.c_str());
}

std::string Child::readOut(int ms) {
    std::string fresh;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (outFd_ >= 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                              deadline - std::chrono::steady_clock::now())
                              .count();
        struct pollfd p = {outFd_, POLLIN, 0};
        if (poll(&p, 1, int(std::max<long long>(0, left))) <= 0) break;
        char buffer[65536];
        const ssize_t got = read(outFd_, buffer, sizeof buffer);
        if (got <= 0) {
            close(outFd_);
            outFd_ = -1;
            break;
        }
        fresh.append(buffer, size_t(got));
        if (left <= 0) break;
    }
    outSoFar_ += fresh;
    return fresh;
}

void Child::sendSignal(int signal) {
    if (pid_ > 0) kill(pid_, signal);
}

ChildResult Child::wait(int timeoutMs) {
    ChildResult result;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    int status = 0;
    for (;;) {
        readOut(20);
        const pid_t done = wait4(pid_, &status, WNOHANG, &result.usage);
        if (done == pid_) break;
        if (std::chrono::steady_clock::now() > deadline) {
            result.timedOut = true;
            kill(pid_, SIGKILL);
        }
    }
    pid_ = -1;
    while (outFd_ >= 0) readOut(100);
    result.out = outSoFar_;
    std::ifstream err(errPath_);
    result.err.assign(std::istreambuf_iterator<char>(err), {});
    if (WIFEXITED(status)) result.exitCode = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
    return result;
}

ChildResult runChild(const std::vector<std::string>& args, const ChildOptions& options,
                     int timeoutMs) {
    Child child(args, options);
    return child.wait(timeoutMs);
}

}  // namespace lectern::testing
