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
    // Readers tolerate junk before the header, but sniffing only at offset 0 keeps source
    // files that merely mention "%PDF-" (like our tests) with the text extractors.
    return ext == ".pdf" || head.compare(0, 5, "%PDF-") == 0;
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

// One document's exchange with a worker: frames in, a finished ExtractResult out.
class Conversation {
public:
    Conversation(const ExtractRequest& request, const SegmentSink& sink)
        : request_(request), sink_(sink), path_(request.path.string()) {
        result_.meta.mimeType = "application/pdf";
    }

    // A frame that ends the document returns true (result() is then final).
    bool onFrame(const pdfproto::Frame& frame, bool& reusable) {
        using pdfproto::FrameType;
        Status bad;
        if (frame.type == FrameType::PageStarted) {
            auto p = pdfproto::decodePage(frame.payload);
            if (p) page_ = *p;
            bad = p.status();
        } else if (frame.type == FrameType::Meta) {
            auto meta = pdfproto::decodeMeta(frame.payload);
            if (meta) result_.meta = std::move(*meta);
            bad = meta.status();
        } else if (frame.type == FrameType::Segment) {
            auto segment = pdfproto::decodeSegment(frame.payload);
            if (segment) {
                ++result_.segmentCount;
                if (!sink_(std::move(*segment)))
                    return finish(ExtractStatus::Partial, "extraction cancelled");
            }
            bad = segment.status();
        } else if (frame.type == FrameType::Result) {
            auto r = pdfproto::decodeResult(frame.payload);
            if (r) {
                reusable = true;
                result_.replacedBytes = r->replacedBytes;
                result_.status = r->status;
                result_.message = r->message;
                return true;
            }
            bad = r.status();
        } else {
            bad = Status::error("unexpected frame type");
        }
        return bad ? false
                   : finish(ExtractStatus::Crashed,
                            "extractor sent a malformed reply (" + bad.message() + ")");
    }

    // Any outcome of waiting other than a frame ends the document.
    void onEnd(PdfWorkerProcess::Wait wait, PdfWorkerProcess& worker, const std::string& error) {
        using Wait = PdfWorkerProcess::Wait;
        const std::string limit = std::to_string(request_.memoryLimitBytes >> 20) + " MiB";
        switch (wait) {
            case Wait::Timeout:
                finish(ExtractStatus::Timeout, "extraction timed out after " +
                                                   std::to_string(request_.timeoutSeconds) + " s");
                break;
            case Wait::Cancelled:
                finish(result_.segmentCount > 0 ? ExtractStatus::Partial : ExtractStatus::Error,
                       "extraction cancelled");
                break;
            case Wait::OverMemory:
                finish(ExtractStatus::MemoryLimit,
                       "out of memory (needed more than the extractor's limit of " + limit + ")");
                break;
            case Wait::ProtocolError:
                finish(ExtractStatus::Crashed, "extractor sent a malformed reply (" + error + ")");
                break;
            case Wait::Died:
            case Wait::Frame: {
                const auto ending = worker.terminate();
                if (ending.outOfMemory) {
                    finish(
                        ExtractStatus::MemoryLimit,
                        "out of memory (needed more than the extractor's limit of " + limit + ")");
                } else {
                    finish(ExtractStatus::Crashed,
                           "extractor crashed (" +
                               (ending.signal ? "signal " + std::to_string(ending.signal)
                                              : "exit code " + std::to_string(ending.exitCode)) +
                               ")");
                }
                break;
            }
        }
    }

    ExtractResult& result() { return result_; }

private:
    // Messages name what happened, where, and the file: "... at page 3 of /x/y.pdf".
    bool finish(ExtractStatus status, const std::string& what) {
        result_.status = status;
        result_.message = what + " " + describePage(page_) + " of " + path_;
        return true;
    }

    const ExtractRequest& request_;
    const SegmentSink& sink_;
    const std::string path_;
    ExtractResult result_;
    int64_t page_ = 0;
};

ExtractResult PdfExtractor::converse(PdfWorkerProcess& worker, const ExtractRequest& request,
                                     const SegmentSink& sink, bool& reusable) {
    const auto deadline =
        request.timeoutSeconds > 0
            ? PdfWorkerProcess::Clock::now() + std::chrono::seconds(request.timeoutSeconds)
            : PdfWorkerProcess::Clock::time_point::max();
    Conversation talk(request, sink);
    for (;;) {
        pdfproto::Frame frame;
        std::string error;
        const auto wait = worker.next(frame, deadline, request.cancel, error);
        if (wait != PdfWorkerProcess::Wait::Frame) {
            talk.onEnd(wait, worker, error);
            return std::move(talk.result());
        }
        if (talk.onFrame(frame, reusable)) return std::move(talk.result());
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
