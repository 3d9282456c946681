// The parent's handle on one PDF worker process (lectern-extract-pdf): posix_spawn with a Unix
// socket on the worker's stdin/stdout and a pipe on its stderr, frame reading with a deadline,
// a cancel flag and a resident-size watch, and reaping that says how the worker ended.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "ingest/extractors/pdf_worker_protocol.h"
#include "lectern/status.h"

namespace lectern::ingest {

class PdfWorkerProcess {
public:
    using Clock = std::chrono::steady_clock;

    // Starts `exe --memory-limit=N`; the worker applies RLIMIT_AS itself before reading input.
    static Expected<std::unique_ptr<PdfWorkerProcess>> spawn(const std::string& exe,
                                                             int64_t memoryLimitBytes);
    ~PdfWorkerProcess();  // kills and reaps a worker still running
    PdfWorkerProcess(const PdfWorkerProcess&) = delete;
    PdfWorkerProcess& operator=(const PdfWorkerProcess&) = delete;

    Status send(const pdfproto::WorkerRequest& request);

    enum class Wait { Frame, Timeout, Cancelled, Died, OverMemory, ProtocolError };
    // Waits for the next frame until `deadline`; `error` gets the detail of a ProtocolError.
    Wait next(pdfproto::Frame& out, Clock::time_point deadline, const std::atomic<bool>* cancel,
              std::string& error);

    struct Ending {
        int signal = 0;            // the signal that killed it, or 0
        int exitCode = 0;          // when it exited
        bool outOfMemory = false;  // its allocations failed under the limit
    };
    // Kills the worker if it still runs (SIGKILL), reaps it and says how it ended.
    Ending terminate();

    int64_t memoryLimit() const { return memoryLimit_; }
    int documentsServed = 0;

private:
    PdfWorkerProcess() = default;
    bool overMemory() const;
    void drainStderr();

    pid_t pid_ = -1;
    int socket_ = -1;
    int stderr_ = -1;
    int64_t memoryLimit_ = 0;
    std::string input_;       // bytes read but not yet framed
    std::string stderrTail_;  // last few KiB the worker wrote to stderr
    bool reaped_ = false;
    Ending ending_;
};

}  // namespace lectern::ingest
