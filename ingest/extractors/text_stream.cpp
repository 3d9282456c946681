// Streaming decode, line splitting and segment grouping for text-like extractors.
#include "ingest/extractors/text_stream.h"

#include "ingest/extractors/binary_sniff.h"
#include "ingest/extractors/file_input.h"

namespace lectern::ingest {

size_t utf8CutPoint(std::string_view s, size_t want) {
    if (want >= s.size()) return s.size();
    size_t n = want;
    // Step back over continuation bytes (10xxxxxx) so no character is split.
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    return n;  // 0 when s[0, want) holds no complete character
}

void addWarning(ExtractResult& result, const std::filesystem::path& path, const std::string& note) {
    if (result.message.empty()) {
        result.message = path.string() + ": " + note;
    } else {
        result.message += "; " + note;
    }
}

void noteDecodeStats(ExtractResult& result, const std::filesystem::path& path,
                     const DecodeStats& stats) {
    result.replacedBytes = stats.replacedBytes;
    if (stats.replacedBytes > 0) {
        addWarning(result, path,
                   std::to_string(stats.replacedBytes) + " invalid " + stats.charset +
                       " bytes replaced by U+FFFD");
    }
    if (stats.nulChars > 0) {
        addWarning(result, path, std::to_string(stats.nulChars) + " NUL characters removed");
    }
    result.meta.extra["charset"] = stats.charset;
}

bool DecodedReader::open(const ExtractRequest& request, ExtractResult& result) {
    request_ = &request;
    result_ = &result;
    if (!input_.open(request.path, result) || !input_.read(raw_, result)) return false;
    if (std::string why = sniffBinary(std::string_view(raw_).substr(0, FileInput::kHeadBytes));
        !why.empty()) {
        result.status = ExtractStatus::SkippedBinary;
        result.message = request.path.string() + ": binary content: " + why;
        return false;
    }
    return true;
}

bool DecodedReader::next(std::string& text, bool* eof) {
    text.clear();
    *eof = false;
    while (text.empty() && !finished_) {
        if (request_->cancel && request_->cancel->load()) {
            result_->status = ExtractStatus::Partial;
            addWarning(*result_, request_->path,
                       "cancelled at byte " + std::to_string(input_.offset()));
            return false;
        }
        Status s = raw_.empty() ? decoder_.finish(text) : decoder_.decode(raw_, text);
        if (!s) {
            result_->status = ExtractStatus::Error;
            result_->message = request_->path.string() + ": " + s.message();
            return false;
        }
        if (raw_.empty()) {
            finished_ = true;
        } else if (!input_.read(raw_, *result_)) {
            return false;
        }
    }
    *eof = finished_ && text.empty();
    return true;
}

void DecodedReader::noteStats() {
    noteDecodeStats(*result_, request_->path, decoder_.stats());
}

bool streamDecoded(const ExtractRequest& request, ExtractResult& result,
                   const std::function<bool(std::string_view)>& onText) {
    DecodedReader reader;
    if (!reader.open(request, result)) return false;
    std::string text;
    bool eof = false;
    while (reader.next(text, &eof)) {
        if (eof) {
            reader.noteStats();
            return true;
        }
        if (!onText(text)) return false;
    }
    return false;
}

bool LineSplitter::append(std::string_view text) {
    partial_.append(text);
    while (partial_.size() > maxPiece_) {
        size_t cut = utf8CutPoint(partial_, maxPiece_);
        if (cut == 0) cut = maxPiece_;  // not UTF-8 at all: cannot happen after decoding
        hadPieces_ = true;
        if (!fn_(std::string_view(partial_).substr(0, cut), line_, false)) return false;
        partial_.erase(0, cut);
    }
    return true;
}

bool LineSplitter::endLine() {
    const bool go = fn_(partial_, line_, true);
    partial_.clear();
    hadPieces_ = false;
    ++line_;
    return go;
}

bool LineSplitter::feed(std::string_view text) {
    size_t i = 0;
    const size_t n = text.size();
    if (pendingCR_ && n > 0) {
        pendingCR_ = false;
        if (text[0] == '\n') i = 1;
    }
    while (i < n) {
        size_t j = i;
        while (j < n && text[j] != '\n' && text[j] != '\r') ++j;
        if (j == n) return append(text.substr(i));
        if (!append(text.substr(i, j - i)) || !endLine()) return false;
        if (text[j] == '\r') {
            if (j + 1 < n) {
                if (text[j + 1] == '\n') ++j;
            } else {
                pendingCR_ = true;
            }
        }
        i = j + 1;
    }
    return true;
}

bool LineSplitter::finish() {
    if (!partial_.empty() || hadPieces_) return endLine();
    return true;
}

bool SegmentBuilder::flush() {
    if (text_.empty() && linesInSegment_ == 0) return !stopped_;
    Segment seg;
    seg.kind = kind_;
    seg.lineStart = lineStart_;
    seg.lineEnd = lineEnd_;
    ++segments_;
    if (kind_ == SegmentKind::Section) {
        seg.ordinal = ordinal_;
        seg.label = label_;
    } else {
        seg.ordinal = segments_;
        seg.label = lineStart_ == lineEnd_
                        ? "line " + std::to_string(lineStart_)
                        : "lines " + std::to_string(lineStart_) + "-" + std::to_string(lineEnd_);
    }
    seg.text = std::move(text_);
    text_.clear();
    linesInSegment_ = 0;
    lineStart_ = lineEnd_ = 0;
    if (!stopped_ && !sink_(std::move(seg))) stopped_ = true;
    return !stopped_;
}

bool SegmentBuilder::addPiece(std::string_view text, int64_t line) {
    while (!text.empty()) {
        if (text_.size() >= limits_.maxBytes && !flush()) return false;
        if (lineStart_ == 0) lineStart_ = line;
        lineEnd_ = line;
        const size_t room = limits_.maxBytes - text_.size();
        const size_t cut = utf8CutPoint(text, room);
        if (cut == 0) {  // the next character does not fit: start a new segment
            if (!flush()) return false;
            continue;
        }
        text_.append(text.substr(0, cut));
        text.remove_prefix(cut);
    }
    return true;
}

bool SegmentBuilder::add(std::string_view text, int64_t line, bool endsLine) {
    if (stopped_) return false;
    if (linesInSegment_ >= limits_.maxLines && !flush()) return false;
    if (!addPiece(text, line)) return false;
    if (lineStart_ == 0) lineStart_ = line;
    lineEnd_ = line;
    if (endsLine) {
        text_ += '\n';
        ++linesInSegment_;
    }
    return true;
}

}  // namespace lectern::ingest
