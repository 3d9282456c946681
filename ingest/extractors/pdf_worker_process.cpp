// Spawning, talking to and reaping a PDF worker process (see pdf_worker_process.h).
// All descriptors are close-on-exec so that workers started from several threads at once
// never inherit each other's sockets; the request goes out with MSG_NOSIGNAL so a dead worker
// gives an error value here rather than SIGPIPE in the host process.
#include "ingest/extractors/pdf_worker_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

extern char** environ;

namespace lectern::ingest {
namespace {

constexpr int kPollSliceMs = 50;  // cancel and memory are checked this often
constexpr size_t kStderrTailBytes = 4096;

Status spawnError(const std::string& what, int err) {
    return Status::error("cannot start the PDF worker: " + what + ": " + strerror(err));
}

}  // namespace

Expected<std::unique_ptr<PdfWorkerProcess>> PdfWorkerProcess::spawn(const std::string& exe,
                                                                    int64_t memoryLimitBytes) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return spawnError("socketpair", errno);
    int errPipe[2];
    if (pipe2(errPipe, O_CLOEXEC) != 0) {
        const int err = errno;
        close(sv[0]);
        close(sv[1]);
        return spawnError("pipe", err);
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, sv[1], 0);
    posix_spawn_file_actions_adddup2(&actions, sv[1], 1);
    posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2);
    // The worker starts with default signal handling and nothing blocked, whatever the host set.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int s : {SIGPIPE, SIGSEGV, SIGABRT, SIGBUS, SIGINT, SIGTERM, SIGCHLD})
        sigaddset(&defaults, s);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    const std::string limitArg = "--memory-limit=" + std::to_string(memoryLimitBytes);
    char* argv[] = {const_cast<char*>(exe.c_str()), const_cast<char*>(limitArg.c_str()), nullptr};
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, exe.c_str(), &actions, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(sv[1]);
    close(errPipe[1]);
    if (rc != 0) {
        close(sv[0]);
        close(errPipe[0]);
        return spawnError(exe, rc);
    }
    std::unique_ptr<PdfWorkerProcess> worker(new PdfWorkerProcess());
    worker->pid_ = pid;
    worker->socket_ = sv[0];
    worker->stderr_ = errPipe[0];
    worker->memoryLimit_ = memoryLimitBytes;
    return worker;
}

PdfWorkerProcess::~PdfWorkerProcess() {
    terminate();
    if (socket_ >= 0) close(socket_);
    if (stderr_ >= 0) close(stderr_);
}

Status PdfWorkerProcess::send(const pdfproto::WorkerRequest& request) {
    std::string frame;
    pdfproto::appendFrame(frame, pdfproto::FrameType::Request, pdfproto::encodeRequest(request));
    size_t done = 0;
    while (done < frame.size()) {
        const ssize_t n = ::send(socket_, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return Status::error(std::string("PDF worker gone: ") + strerror(errno));
        done += size_t(n);
    }
    return Status::ok();
}

bool PdfWorkerProcess::overMemory() const {
    // Resident size from /proc: the guard where RLIMIT_AS cannot be used (sanitizer builds).
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/statm", int(pid_));
    FILE* f = std::fopen(path, "r");
    if (!f) return false;
    long long size = 0, resident = 0;
    const bool ok = std::fscanf(f, "%lld %lld", &size, &resident) == 2;
    std::fclose(f);
    return ok && resident * sysconf(_SC_PAGESIZE) > memoryLimit_;
}

void PdfWorkerProcess::drainStderr() {
    char chunk[4096];
    const ssize_t n = read(stderr_, chunk, sizeof chunk);
    if (n <= 0) {
        if (n == 0 || errno != EINTR) {
            close(stderr_);
            stderr_ = -1;
        }
        return;
    }
    stderrTail_.append(chunk, size_t(n));
    if (stderrTail_.size() > kStderrTailBytes)
        stderrTail_.erase(0, stderrTail_.size() - kStderrTailBytes);
}

PdfWorkerProcess::Wait PdfWorkerProcess::next(pdfproto::Frame& out, Clock::time_point deadline,
                                              const std::atomic<bool>* cancel, std::string& error) {
    char chunk[65536];
    for (;;) {
        // Cancel wins over frames already buffered, so a stop takes effect at the next page.
        if (cancel && cancel->load()) return Wait::Cancelled;
        auto used = pdfproto::parseFrame(input_, out);
        if (!used) {
            error = used.error();
            return Wait::ProtocolError;
        }
        if (*used > 0) {
            input_.erase(0, *used);
            return Wait::Frame;
        }
        const auto now = Clock::now();
        if (now >= deadline) return Wait::Timeout;
        if (overMemory()) return Wait::OverMemory;
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
        pollfd fds[2] = {{socket_, POLLIN, 0}, {stderr_, POLLIN, 0}};
        const int ready =
            poll(fds, stderr_ >= 0 ? 2 : 1, int(std::min<long long>(left + 1, kPollSliceMs)));
        if (ready < 0 && errno != EINTR) {
            error = std::string("poll failed: ") + strerror(errno);
            return Wait::ProtocolError;
        }
        if (ready <= 0) continue;
        if (stderr_ >= 0 && (fds[1].revents & (POLLIN | POLLHUP))) drainStderr();
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            const ssize_t n = read(socket_, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return Wait::Died;
            input_.append(chunk, size_t(n));
        }
    }
}

PdfWorkerProcess::Ending PdfWorkerProcess::terminate() {
    if (reaped_ || pid_ <= 0) return ending_;
    // A worker that closed its socket is exiting: give it a moment to end by itself, so that
    // its own signal or exit code is what we report, not our SIGKILL.
    int status = 0;
    pid_t got = 0;
    for (int i = 0; i < 100 && got == 0; ++i) {
        got = waitpid(pid_, &status, WNOHANG);
        if (got == 0 && i == 0) {
            char probe;
            if (recv(socket_, &probe, 1, MSG_PEEK | MSG_DONTWAIT) != 0) break;  // still alive
        }
        if (got == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (got <= 0) {
        kill(pid_, SIGKILL);
        while ((got = waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
        }
    }
    reaped_ = true;
    while (stderr_ >= 0) drainStderr();
    if (got > 0 && WIFSIGNALED(status)) ending_.signal = WTERMSIG(status);
    if (got > 0 && WIFEXITED(status)) ending_.exitCode = WEXITSTATUS(status);
    ending_.outOfMemory = ending_.exitCode == pdfproto::kWorkerExitMemoryLimit ||
                          stderrTail_.find("Out of memory") != std::string::npos ||
                          stderrTail_.find("bad_alloc") != std::string::npos;
    return ending_;
}

}  // namespace lectern::ingest
