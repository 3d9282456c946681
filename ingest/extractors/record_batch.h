// Groups records (CSV rows, JSON values, mail messages) into Record segments of bounded
// size: up to maxRecords records or maxBytes of text per segment, ordinal = the first
// record's number, label "row 17" / "rows 17-66". A record larger than hardCap is emitted
// in several pieces with the same ordinal, so one huge row never grows memory unbounded.
#pragma once

#include <string>
#include <string_view>

#include "ingest/extractors/extractor.h"

namespace lectern::ingest {

class RecordBatcher {
public:
    struct Limits {
        int64_t maxRecords = 50;
        size_t maxBytes = size_t(8) << 10;
        size_t hardCap = size_t(64) << 10;
    };
    RecordBatcher(const SegmentSink& sink, std::string unit, Limits limits)
        : sink_(sink), unit_(std::move(unit)), limits_(limits) {}
    RecordBatcher(const SegmentSink& sink, std::string unit)
        : RecordBatcher(sink, std::move(unit), Limits{}) {}

    bool begin(int64_t number, int64_t line);
    bool append(std::string_view text, int64_t line);  // valid UTF-8 pieces
    bool end(int64_t line);
    bool flush();
    int64_t segments() const { return segments_; }
    bool stopped() const { return stopped_; }
    void setLabel(std::string label) { customLabel_ = std::move(label); }  // next record's

private:
    bool emit(bool partial);

    const SegmentSink& sink_;
    std::string unit_;
    Limits limits_;
    std::string text_, customLabel_, firstLabel_;
    int64_t first_ = 0, last_ = 0, lineStart_ = 0, lineEnd_ = 0, records_ = 0;
    int64_t segments_ = 0;
    bool stopped_ = false;
};

}  // namespace lectern::ingest
