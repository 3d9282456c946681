// The contract every extractor implements (one per format, like Okular's generators):
// it reads one file and streams its text as segments with provenance (PDF pages, line
// ranges of source and text files, CSV rows, JSON records, mail messages) to a sink.
// Extractors never touch the store; the ingest pipeline's single writer does.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lectern::ingest {

enum class SegmentKind { Page, Lines, Record, Message, Section };

struct Segment {
    SegmentKind kind = SegmentKind::Lines;
    int64_t ordinal = 0;    // 1-based: page number, record row, message index, section index
    int64_t lineStart = 0;  // 1-based inclusive line range in the document's text; 0 when n/a
    int64_t lineEnd = 0;
    std::string label;  // short human reference: "page 3", "row 17", "Re: offer", a heading
    std::string text;   // valid UTF-8, NFC
    bool ocr = false;   // text came from OCR of a scanned page
};

// Terminal outcome of one document. The store keeps it as the document's status.
enum class ExtractStatus {
    Ok,
    Partial,        // some text was stored, with a warning in the message
    Error,          // nothing usable; message says why
    NeedsPassword,  // encrypted PDF, no password given
    WrongPassword,
    SkippedBinary,  // binary content posing as text
    Vanished,       // file disappeared between listing and reading
    Timeout,
    MemoryLimit,
    Crashed,  // the extraction worker died (signal), message names it
};

const char* extractStatusName(ExtractStatus status);

struct DocumentMeta {
    std::string title;
    std::string author;
    std::string mimeType;  // e.g. application/pdf, text/x-c++src, message/rfc822
    std::string language;  // programming language for source files, else empty
    int64_t pageCount = 0;
    std::map<std::string, std::string> extra;  // format-specific (PDF producer, mail headers…)
};

struct ExtractResult {
    ExtractStatus status = ExtractStatus::Ok;
    std::string message;  // names the file and the problem (page, line, byte offset)
    DocumentMeta meta;
    int64_t replacedBytes = 0;  // invalid input bytes replaced by U+FFFD
    int64_t segmentCount = 0;
};

struct ExtractRequest {
    std::filesystem::path path;
    std::string password;                         // PDFs; tried as UTF-8 and Latin-1
    const std::atomic<bool>* cancel = nullptr;    // checked between segments
    int timeoutSeconds = 60;                      // per document, for worker-process extractors
    int64_t memoryLimitBytes = int64_t(1) << 30;  // RLIMIT_AS of a worker process
};

// Receives segments in document order. Returning false stops the extraction (cancel).
using SegmentSink = std::function<bool(Segment&&)>;

class Extractor {
public:
    virtual ~Extractor() = default;
    virtual const char* name() const = 0;  // "pdf", "csv", "text", ...
    // True when this extractor handles the file (by extension and/or sniffed magic bytes).
    virtual bool accepts(const std::filesystem::path& path, const std::string& head) const = 0;
    virtual ExtractResult extract(const ExtractRequest& request, const SegmentSink& sink) = 0;
};

// All built-in extractors, most specific first; the pipeline picks the first that accepts.
std::vector<std::unique_ptr<Extractor>> makeDefaultExtractors();

}  // namespace lectern::ingest
