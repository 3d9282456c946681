// PdfExtractor: the parent side of PDF extraction (see pdf_poppler.h). It keeps a small pool of
// idle workers so that consecutive documents skip process start-up; a worker goes back to the
// pool only after a clean Result frame, and any crash, timeout, memory overrun, malformed
// reply or cancel kills it, so no worker ever carries a half-read document into the next one.
#include "ingest/extractors/pdf_poppler.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "ingest/extractors/pdf_worker_process.h"

namespace lectern::ingest {
namespace {

constexpr size_t kMaxIdleWorkers = 4;
constexpr int kDocumentsPerWorker = 200;  // bounds what a long-lived Poppler can accumulate

bool isExecutable(const std::string& path) {
    return !path.empty() && access(path.c_str(), X_OK) == 0;
}

std::string describePage(int64_t page) {
    return page > 0 ? "at page " + std::to_string(page) : "while opening the document";
}

class PdfExtractor final : public Extractor {
public:
    const char* name() const override { return "pdf"; }
    bool accepts(const std::filesystem::path& path, const std::string& head) const override;
    ExtractResult extract(const ExtractRequest& request, const SegmentSink& sink) override;

private:
    Expected<std::unique_ptr<PdfWorkerProcess>> acquire(int64_t memoryLimit);
    void release(std::unique_ptr<PdfWorkerProcess> worker);
    ExtractResult converse(PdfWorkerProcess& worker, const ExtractRequest& request,
                           const SegmentSink& sink, bool& reusable);

    std::mutex mutex_;
    std::vector<std::unique_ptr<PdfWorkerProcess>> idle_;
};

bool PdfExtractor::accepts(const std::filesystem::path& path, const std::string& head) const {
    std::string ext = path.extension().string();
    for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
    // Readers accept the header anywhere in the first KiB, so we sniff the same window.
    return ext == ".pdf" || head.substr(0, 1024).find("%PDF-") != std::string::npos;
}

Expected<std::unique_ptr<PdfWorkerProcess>> PdfExtractor::acquire(int64_t memoryLimit) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto it = idle_.begin(); it != idle_.end(); ++it) {
            if ((*it)->memoryLimit() == memoryLimit) {
                auto worker = std::move(*it);
                idle_.erase(it);
                return worker;
            }
        }
    }
    const std::string exe = pdfWorkerPath();
    if (exe.empty()) {
        return Status::error("PDF worker lectern-extract-pdf not found (set LECTERN_PDF_WORKER)");
    }
    return PdfWorkerProcess::spawn(exe, memoryLimit);
}

void PdfExtractor::release(std::unique_ptr<PdfWorkerProcess> worker) {
    if (++worker->documentsServed >= kDocumentsPerWorker) return;  // destructor reaps it
    std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.size() < kMaxIdleWorkers) idle_.push_back(std::move(worker));
}

ExtractResult PdfExtractor::converse(PdfWorkerProcess& worker, const ExtractRequest& request,
                                     const SegmentSink& sink, bool& reusable) {
    ExtractResult result;
    result.meta.mimeType = "application/pdf";
    const std::string path = request.path.string();
    const auto start = PdfWorkerProcess::Clock::now();
    const auto deadline = request.timeoutSeconds > 0
                              ? start + std::chrono::seconds(request.timeoutSeconds)
                              : PdfWorkerProcess::Clock::time_point::max();
    int64_t page = 0;
    auto finish = [&](ExtractStatus status, std::string message) {
        result.status = status;
        result.message = std::move(message);
        return result;
    };
    for (;;) {
        pdfproto::Frame frame;
        std::string error;
        switch (worker.next(frame, deadline, request.cancel, error)) {
            case PdfWorkerProcess::Wait::Frame:
                break;
            case PdfWorkerProcess::Wait::Timeout:
                return finish(ExtractStatus::Timeout, "extraction timed out after " +
                                                          std::to_string(request.timeoutSeconds) +
                                                          " s " + describePage(page) + " of " +
                                                          path);
            case PdfWorkerProcess::Wait::Cancelled:
                return finish(
                    result.segmentCount > 0 ? ExtractStatus::Partial : ExtractStatus::Error,
                    "extraction cancelled " + describePage(page) + " of " + path);
            case PdfWorkerProcess::Wait::OverMemory:
                return finish(ExtractStatus::MemoryLimit,
                              "extractor exceeded its memory limit (" +
                                  std::to_string(request.memoryLimitBytes >> 20) + " MiB) " +
                                  describePage(page) + " of " + path);
            case PdfWorkerProcess::Wait::ProtocolError:
                return finish(ExtractStatus::Crashed, "extractor sent a malformed reply (" + error +
                                                          ") " + describePage(page) + " of " +
                                                          path);
            case PdfWorkerProcess::Wait::Died: {
                const auto ending = worker.terminate();
                if (ending.outOfMemory) {
                    return finish(ExtractStatus::MemoryLimit,
                                  "extractor ran out of memory under its limit (" +
                                      std::to_string(request.memoryLimitBytes >> 20) + " MiB) " +
                                      describePage(page) + " of " + path);
                }
                const std::string how = ending.signal
                                            ? "signal " + std::to_string(ending.signal)
                                            : "exit code " + std::to_string(ending.exitCode);
                return finish(ExtractStatus::Crashed, "extractor crashed (" + how + ") " +
                                                          describePage(page) + " of " + path);
            }
        }
        Status bad;
        if (frame.type == pdfproto::FrameType::PageStarted) {
            auto p = pdfproto::decodePage(frame.payload);
            if (p) page = *p;
            bad = p.status();
        } else if (frame.type == pdfproto::FrameType::Meta) {
            auto meta = pdfproto::decodeMeta(frame.payload);
            if (meta) result.meta = std::move(*meta);
            bad = meta.status();
        } else if (frame.type == pdfproto::FrameType::Segment) {
            auto segment = pdfproto::decodeSegment(frame.payload);
            if (segment) {
                ++result.segmentCount;
                if (!sink(std::move(*segment))) {
                    return finish(ExtractStatus::Partial,
                                  "extraction cancelled " + describePage(page) + " of " + path);
                }
            }
            bad = segment.status();
        } else if (frame.type == pdfproto::FrameType::Result) {
            auto r = pdfproto::decodeResult(frame.payload);
            if (r) {
                reusable = true;
                result.replacedBytes = r->replacedBytes;
                return finish(r->status, r->message);
            }
            bad = r.status();
        } else {
            bad = Status::error("unexpected frame type");
        }
        if (!bad) {
            return finish(ExtractStatus::Crashed,
                          "extractor sent a malformed reply (" + bad.message() + ") of " + path);
        }
    }
}

ExtractResult PdfExtractor::extract(const ExtractRequest& request, const SegmentSink& sink) {
    ExtractResult result;
    result.meta.mimeType = "application/pdf";
    const std::string path = request.path.string();
    // Opening here first tells a vanished or unreadable file from a broken PDF.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        result.status = err == ENOENT ? ExtractStatus::Vanished : ExtractStatus::Error;
        result.message = path + ": cannot open: " + strerror(err);
        return result;
    }
    ::close(fd);
    pdfproto::WorkerRequest workerRequest;
    workerRequest.path = path;
    workerRequest.password = request.password;
    if (const char* hook = std::getenv(pdfproto::kTestHookEnv)) workerRequest.testHook = hook;
    // A pooled worker may have died while idle: one fresh start is tried before giving up.
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto worker = acquire(request.memoryLimitBytes);
        if (!worker) {
            result.status = ExtractStatus::Error;
            result.message = path + ": " + worker.error();
            return result;
        }
        if (!(*worker)->send(workerRequest)) continue;
        bool reusable = false;
        result = converse(**worker, request, sink, reusable);
        if (reusable) release(std::move(*worker));
        return result;
    }
    result.status = ExtractStatus::Error;
    result.message = path + ": the PDF worker does not accept requests";
    return result;
}

}  // namespace

std::unique_ptr<Extractor> makePdfExtractor() {
    return std::make_unique<PdfExtractor>();
}

std::string pdfWorkerPath() {
    if (const char* env = std::getenv("LECTERN_PDF_WORKER"); env && isExecutable(env)) return env;
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const auto dir = self.parent_path();
        for (const auto& candidate :
             {dir / "lectern-extract-pdf", dir / "../lib/lectern/lectern-extract-pdf"}) {
            if (isExecutable(candidate.string())) return candidate.string();
        }
    }
#ifdef LECTERN_PDF_WORKER_BUILD_PATH
    if (isExecutable(LECTERN_PDF_WORKER_BUILD_PATH)) return LECTERN_PDF_WORKER_BUILD_PATH;
#endif
    return {};
}

}  // namespace lectern::ingest
