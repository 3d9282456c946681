// Record grouping (record_batch.h).
#include "ingest/extractors/record_batch.h"

#include "ingest/extractors/text_stream.h"

namespace lectern::ingest {

bool RecordBatcher::emit(bool partial) {
    if (text_.empty()) return !stopped_;  // nothing to search: no segment
    Segment seg;
    seg.kind = SegmentKind::Record;
    seg.ordinal = first_;
    seg.lineStart = lineStart_;
    seg.lineEnd = lineEnd_;
    if (!firstLabel_.empty() && first_ == last_) {
        seg.label = firstLabel_;
    } else if (first_ == last_) {
        seg.label = unit_ + " " + std::to_string(first_);
    } else {
        seg.label = unit_ + "s " + std::to_string(first_) + "-" + std::to_string(last_);
    }
    if (partial) seg.label += " (part)";
    seg.text = std::move(text_);
    text_.clear();
    ++segments_;
    if (!stopped_ && !sink_(std::move(seg))) stopped_ = true;
    return !stopped_;
}

bool RecordBatcher::flush() {
    const bool ok = emit(false);
    records_ = 0;
    lineStart_ = lineEnd_ = 0;
    firstLabel_.clear();
    return ok;
}

bool RecordBatcher::begin(int64_t number, int64_t line) {
    if (records_ >= limits_.maxRecords || text_.size() >= limits_.maxBytes) {
        if (!flush()) return false;
    }
    if (records_ == 0) {
        first_ = number;
        lineStart_ = line;
        firstLabel_ = customLabel_;
    }
    customLabel_.clear();
    last_ = number;
    lineEnd_ = line;
    ++records_;
    return !stopped_;
}

bool RecordBatcher::append(std::string_view text, int64_t line) {
    if (line > 0) lineEnd_ = line;
    while (text_.size() + text.size() > limits_.hardCap) {
        // A record bigger than the cap: emit what fits as a piece of it, keep the rest open.
        const size_t cut =
            utf8CutPoint(text, limits_.hardCap - std::min(text_.size(), limits_.hardCap));
        text_.append(text.substr(0, cut));
        text.remove_prefix(cut);
        if (!emit(true)) return false;
        first_ = last_;
        lineStart_ = lineEnd_;
    }
    text_.append(text);
    return !stopped_;
}

bool RecordBatcher::end(int64_t line) {
    if (line > 0) lineEnd_ = line;
    text_ += '\n';
    return !stopped_;
}

}  // namespace lectern::ingest
