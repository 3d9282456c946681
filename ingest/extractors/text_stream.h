// Shared plumbing of the text-like extractors: open + sniff + decode a file as a stream of
// UTF-8 chunks; split the stream into lines (\r\n, \r and \n each end one line) with long
// lines cut into bounded pieces; and group lines into Segments of bounded size. Memory
// stays bounded by the chunk and segment sizes whatever the file size or line length.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "ingest/extractors/extractor.h"
#include "ingest/extractors/file_input.h"
#include "ingest/extractors/text_decode.h"

namespace lectern::ingest {

// Pull-style decoding of a file: open() opens and sniffs (SkippedBinary with the reason),
// next() yields decoded chunks until *eof; finish() records the decoder's counts.
class DecodedReader {
public:
    bool open(const ExtractRequest& request, ExtractResult& result);
    bool next(std::string& text, bool* eof);  // false with result set on failure or cancel
    void noteStats();                         // replacement / NUL warnings into the result
    int64_t offset() const { return input_.offset(); }

private:
    const ExtractRequest* request_ = nullptr;
    ExtractResult* result_ = nullptr;
    FileInput input_;
    TextDecoder decoder_;
    std::string raw_;
    bool finished_ = false;
};

// Opens request.path, refuses binary content (SkippedBinary with the reason), decodes with
// charset detection and calls onText for each decoded chunk (false stops). Sets
// result.status/message/replacedBytes; returns false when extraction failed or stopped.
bool streamDecoded(const ExtractRequest& request, ExtractResult& result,
                   const std::function<bool(std::string_view)>& onText);

// Line splitter. onLine(text, line, endsLine): `text` is a whole line without its end, or a
// piece of a line longer than maxPiece (endsLine false for all pieces but the last).
class LineSplitter {
public:
    using LineFn = std::function<bool(std::string_view, int64_t, bool)>;
    explicit LineSplitter(LineFn fn, size_t maxPiece = size_t(64) << 10)
        : fn_(std::move(fn)), maxPiece_(maxPiece) {}
    bool feed(std::string_view text);
    bool finish();
    int64_t lines() const { return line_ - 1; }  // lines seen so far (after finish: all)

private:
    bool append(std::string_view text);
    bool endLine();

    LineFn fn_;
    size_t maxPiece_;
    std::string partial_;
    int64_t line_ = 1;
    bool pendingCR_ = false;  // a '\r' ended the last chunk: a '\n' next belongs to it
    bool hadPieces_ = false;
};

struct SegmentLimits {
    int64_t maxLines = 100;
    size_t maxBytes = size_t(8) << 10;
};

// Groups line pieces into segments of at most maxLines lines / maxBytes bytes (a longer
// line is cut at a character boundary). Line ends are stored as '\n'.
class SegmentBuilder {
public:
    SegmentBuilder(const SegmentSink& sink, SegmentKind kind, SegmentLimits limits = {})
        : sink_(sink), kind_(kind), limits_(limits) {}
    bool add(std::string_view text, int64_t line, bool endsLine);
    bool flush();
    // For Section segments: the label and ordinal of what follows (call flush() first).
    void setSection(std::string label, int64_t ordinal) {
        label_ = std::move(label);
        ordinal_ = ordinal;
    }
    int64_t segments() const { return segments_; }
    bool stopped() const { return stopped_; }

private:
    bool addPiece(std::string_view text, int64_t line);

    const SegmentSink& sink_;
    SegmentKind kind_;
    SegmentLimits limits_;
    std::string text_;
    int64_t lineStart_ = 0, lineEnd_ = 0, linesInSegment_ = 0;
    std::string label_;
    int64_t ordinal_ = 0;
    int64_t segments_ = 0;
    bool stopped_ = false;
};

// Largest n <= want such that s[0, n) ends on a UTF-8 character boundary.
size_t utf8CutPoint(std::string_view s, size_t want);

// Appends a note to result.message ("; " separated), prefixed by the path once.
void addWarning(ExtractResult& result, const std::filesystem::path& path, const std::string& note);

// Adds the replacement/NUL warning from decoder stats to the result.
void noteDecodeStats(ExtractResult& result, const std::filesystem::path& path,
                     const DecodeStats& stats);

}  // namespace lectern::ingest
