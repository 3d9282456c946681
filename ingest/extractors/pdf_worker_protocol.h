// The framed binary protocol between the PDF extractor (parent) and its worker process
// (lectern-extract-pdf). One Unix stream socket carries both directions. A frame is a 1-byte
// type, a 4-byte little-endian payload length and the payload; integers are little-endian,
// strings are a u32 length and bytes. Every length is checked against the bytes present, so a
// worker that dies mid-frame or writes garbage is a protocol error, never an overread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ingest/extractors/extractor.h"
#include "lectern/status.h"

namespace lectern::ingest::pdfproto {

// Parent -> worker: Request. Worker -> parent: PageStarted*, Meta, Segment*, Result (last).
enum class FrameType : uint8_t { Request = 1, PageStarted = 2, Meta = 3, Segment = 4, Result = 5 };

// The worker exits with this code when an allocation fails under its memory limit.
constexpr int kWorkerExitMemoryLimit = 86;
// Name of the test hook variable the parent forwards to the worker ("segv@K" and so on).
constexpr const char* kTestHookEnv = "LECTERN_PDF_WORKER_TEST";

constexpr uint32_t kMaxFramePayload = 64u << 20;  // a page's text is capped well below this
constexpr size_t kFrameHeaderSize = 5;

struct Frame {
    FrameType type = FrameType::Result;
    std::string payload;
};

struct WorkerRequest {
    std::string path;
    std::string password;
    std::string testHook;  // "segv@K", "hang@K", "hog@K": test-only faults on page K
    bool ocr = true;
};

struct WorkerResult {
    ExtractStatus status = ExtractStatus::Error;
    std::string message;
    int64_t replacedBytes = 0;
};

// Appends one encoded frame to `out`.
void appendFrame(std::string& out, FrameType type, const std::string& payload);

// Parses one frame from the front of `buffer` if complete. Returns 0 when more bytes are needed,
// the number of bytes consumed otherwise, or an error for an impossible header.
Expected<size_t> parseFrame(const std::string& buffer, Frame& out);

std::string encodeRequest(const WorkerRequest& request);
Expected<WorkerRequest> decodeRequest(const std::string& payload);

std::string encodePage(int64_t page);
Expected<int64_t> decodePage(const std::string& payload);

std::string encodeMeta(const DocumentMeta& meta);
Expected<DocumentMeta> decodeMeta(const std::string& payload);

std::string encodeSegment(const Segment& segment);
Expected<Segment> decodeSegment(const std::string& payload);

std::string encodeResult(const WorkerResult& result);
Expected<WorkerResult> decodeResult(const std::string& payload);

// Blocking helpers for the worker side (and tests): whole frames over a file descriptor.
Status writeAll(int fd, const std::string& bytes);
// Reads exactly one frame; an error on EOF (message "eof" when cleanly between frames).
Expected<Frame> readFrameBlocking(int fd);

}  // namespace lectern::ingest::pdfproto
