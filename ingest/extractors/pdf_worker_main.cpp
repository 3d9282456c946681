// lectern-extract-pdf: the PDF extraction worker process. It reads Request frames on fd 0 and
// answers each with PageStarted/Meta/Segment frames and one Result frame on fd 1, document
// after document, until its parent closes the socket. It runs under RLIMIT_AS (set here, before
// any input is read) so that a PDF that makes Poppler allocate without bound fails this process
// only; the parent turns a crash, a hang or exhausted memory into one document's status.
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "ingest/extractors/pdf_worker_extract.h"
#include "ingest/extractors/pdf_worker_ocr.h"
#include "ingest/extractors/pdf_worker_protocol.h"

#if defined(__SANITIZE_ADDRESS__)
#define LECTERN_WORKER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LECTERN_WORKER_ASAN 1
#endif
#endif

#ifdef LECTERN_WORKER_ASAN
// A failed allocation under ASan then returns null like a real limit would, instead of a report.
extern "C" const char* __asan_default_options() {
    return "allocator_may_return_null=1";
}
#endif

namespace {

using namespace lectern::ingest;

[[noreturn]] void exitOutOfMemory() {
    _exit(pdfproto::kWorkerExitMemoryLimit);
}

void applyMemoryLimit(long long bytes) {
#ifdef LECTERN_WORKER_ASAN
    // ASan reserves terabytes of shadow address space, so RLIMIT_AS cannot be used; the parent
    // watches the worker's resident size instead.
    (void)bytes;
#else
    if (bytes <= 0) return;
    struct rlimit limit = {rlim_t(bytes), rlim_t(bytes)};
    setrlimit(RLIMIT_AS, &limit);
#endif
}

// Test-only faults ("segv@K", "hang@K", "hog@K"), run when page K starts.
void runTestHook(const std::string& hook, int64_t page) {
    const auto at = hook.find('@');
    if (at == std::string::npos || std::atoll(hook.c_str() + at + 1) != page) return;
    const std::string what = hook.substr(0, at);
    if (what == "segv") {
        signal(SIGSEGV, SIG_DFL);  // die by the signal itself, even where ASan installed a handler
        raise(SIGSEGV);
    }
    if (what == "hang") {
        for (;;) pause();
    }
    if (what == "hog") {
        std::vector<char*> blocks;
        for (;;) {
            char* block = new char[64 << 20];
            std::memset(block, 1, 64 << 20);
            blocks.push_back(block);
        }
    }
}

// The protocol's own copy of the socket; fd 1 itself is pointed at stderr, so that a library
// printing to stdout (Leptonica, Tesseract) cannot corrupt the frames.
int protocolFd = 1;

void send(pdfproto::FrameType type, const std::string& payload) {
    std::string frame;
    pdfproto::appendFrame(frame, type, payload);
    // A parent that went away (killed us for a timeout, say) ends this process too.
    if (!pdfproto::writeAll(protocolFd, frame)) _exit(3);
}

void serve(const pdfproto::WorkerRequest& request, PageOcr& ocr) {
    PdfExtractOptions options;
    options.password = request.password;
    options.ocr = request.ocr ? &ocr : nullptr;
    PdfCallbacks callbacks;
    callbacks.meta = [](const DocumentMeta& meta) {
        send(pdfproto::FrameType::Meta, pdfproto::encodeMeta(meta));
    };
    callbacks.pageStarted = [&request](int64_t page) {
        send(pdfproto::FrameType::PageStarted, pdfproto::encodePage(page));
        if (!request.testHook.empty()) runTestHook(request.testHook, page);
    };
    callbacks.segment = [](Segment&& segment) {
        send(pdfproto::FrameType::Segment, pdfproto::encodeSegment(segment));
        return true;
    };
    pdfproto::WorkerResult result;
    try {
        result = extractPdfFile(request.path, options, callbacks);
    } catch (const std::bad_alloc&) {
        exitOutOfMemory();
    }
    send(pdfproto::FrameType::Result, pdfproto::encodeResult(result));
}

// A parent killed with SIGKILL while this process is busy (a long OCR page, or Poppler stuck
// in a loop) would leave it running as an orphan; a thread that waits for the socket's
// hang-up ends the process as soon as the parent's end closes (RELIABILITY CRASH-2).
// PR_SET_PDEATHSIG would not do: it fires when the parent *thread* that spawned the worker
// exits, and idle workers are shared by the parent's threads.
void exitWhenParentGoes(int fd) {
    std::thread([fd] {
        pollfd watch = {fd, POLLRDHUP, 0};
        for (;;) {
            const int rc = poll(&watch, 1, -1);
            if (rc < 0 && errno == EINTR) continue;
            if (rc < 0 || (watch.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) _exit(0);
        }
    }).detach();
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "--memory-limit=", 15) == 0)
            applyMemoryLimit(std::atoll(argv[i] + 15));
    }
    protocolFd = fcntl(1, F_DUPFD_CLOEXEC, 3);
    if (protocolFd < 0 || dup2(2, 1) < 0) return 2;
    std::set_new_handler(exitOutOfMemory);
    exitWhenParentGoes(0);
    pdfInitPoppler();
    PageOcr ocr;
    for (;;) {
        auto frame = pdfproto::readFrameBlocking(0);
        if (!frame) return frame.error() == "eof" ? 0 : 2;
        if (frame->type != pdfproto::FrameType::Request) return 2;
        auto request = pdfproto::decodeRequest(frame->payload);
        if (!request) return 2;
        serve(*request, ocr);
    }
}
