// JSON and JSON Lines through nlohmann-json's SAX parser (json.h). SAX keeps no tree, so
// memory is bounded by one record; depth is counted in start_object/start_array and
// parsing stops past kMaxDepth, so 100,000-deep nesting is an error, never a deep stack.
// Records are rendered as "path: value" lines ("address.city: Paris", "tags[0]: x").
#include "ingest/extractors/json.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <istream>
#include <streambuf>

#include "ingest/extractors/record_batch.h"
#include "ingest/extractors/text_stream.h"

namespace lectern::ingest {
namespace {

constexpr int kMaxDepth = 512;
constexpr size_t kMaxJsonlLine = size_t(16) << 20;

using json = nlohmann::json;

// Renders values at depth > recordDepth into the current record; a value at recordDepth
// begins and ends one record. JSON: recordDepth 1 (root container's children). JSONL: 0.
class Renderer : public nlohmann::json_sax<json> {
public:
    Renderer(RecordBatcher& out, int recordDepth, int64_t line)
        : out_(out), recordDepth_(recordDepth), line_(line) {}
    // JSONL: render into `capture` only, so a line that fails half-way stores nothing.
    Renderer(RecordBatcher& out, std::string* capture)
        : out_(out), recordDepth_(0), line_(0), capture_(capture) {}

    bool null() override { return scalar("null"); }
    bool boolean(bool v) override { return scalar(v ? "true" : "false"); }
    bool number_integer(number_integer_t v) override { return scalar(std::to_string(v)); }
    bool number_unsigned(number_unsigned_t v) override { return scalar(std::to_string(v)); }
    bool number_float(number_float_t, const string_t& s) override { return scalar(s); }
    bool string(string_t& v) override { return scalar(v); }
    bool binary(binary_t&) override { return scalar("<binary>"); }
    bool key(string_t& k) override {
        if (!stack_.empty()) stack_.back().key = k;
        return true;
    }
    bool start_object(std::size_t) override { return open(false); }
    bool start_array(std::size_t) override { return open(true); }
    bool end_object() override { return close(); }
    bool end_array() override { return close(); }
    bool parse_error(std::size_t pos, const std::string&,
                     const nlohmann::detail::exception& ex) override {
        error_ = "syntax error at byte " + std::to_string(pos) + ": " + trimWhat(ex.what());
        return false;
    }

    const std::string& error() const { return error_; }
    int64_t records() const { return records_; }

private:
    struct Level {
        bool array;
        int64_t index;
        std::string key;
    };

    static std::string trimWhat(const char* what) {
        std::string s(what);
        const size_t p = s.find("] ");  // "[json.exception.parse_error.101] parse error..."
        return p == std::string::npos ? s : s.substr(p + 2);
    }
    int depth() const { return int(stack_.size()); }
    bool beginValue(bool scalar) {
        if (capture_) return true;
        if (depth() == recordDepth_ || (recordDepth_ == 1 && depth() == 0 && scalar)) {
            ++records_;
            if (depth() == 1 && !stack_.back().array) {
                const std::string& key = stack_.back().key;  // cut on a UTF-8 boundary
                out_.setLabel(key.substr(0, utf8CutPoint(key, 200)));
            }
            return out_.begin(records_, line_);
        }
        return true;
    }
    bool endValue() {
        if (!stack_.empty() && stack_.back().array) ++stack_.back().index;
        if (capture_) return true;
        if (depth() == recordDepth_ ||
            (recordDepth_ == 1 && depth() == 0 && records_ > 0 && !rootContainer_)) {
            return out_.end(line_);
        }
        return true;
    }
    std::string path() const {
        std::string p;
        for (size_t i = size_t(recordDepth_); i < stack_.size(); ++i) {
            const Level& l = stack_[i];
            if (l.array) {
                p += "[" + std::to_string(l.index) + "]";
            } else {
                if (!p.empty()) p += '.';
                p += l.key;
            }
        }
        return p;
    }
    bool scalar(const std::string& v) {
        if (!beginValue(true)) return false;
        const std::string p = path();
        if (capture_) {
            *capture_ += (p.empty() ? v : p + ": " + v) + "\n";
            return capture_->size() < kMaxJsonlLine * 4 || fail("rendered record too large");
        }
        if (!out_.append(p.empty() ? v : p + ": " + v, line_) || !out_.append("\n", line_))
            return false;
        return endValue();
    }
    bool fail(std::string why) {
        error_ = std::move(why);
        return false;
    }
    bool open(bool array) {
        if (depth() >= kMaxDepth) {
            return fail("nesting deeper than " + std::to_string(kMaxDepth) + " levels");
        }
        if (depth() == 0) rootContainer_ = true;
        if (!beginValue(false)) return false;
        stack_.push_back({array, 0, {}});
        return true;
    }
    bool close() {
        stack_.pop_back();
        return endValue();
    }

    RecordBatcher& out_;
    int recordDepth_;
    int64_t line_;
    std::vector<Level> stack_;
    std::string error_;
    int64_t records_ = 0;
    bool rootContainer_ = false;
    std::string* capture_ = nullptr;
};

// A std::streambuf over a DecodedReader, so the SAX parser streams the decoded file.
class DecodedStreambuf : public std::streambuf {
public:
    explicit DecodedStreambuf(DecodedReader& reader) : reader_(reader) {}
    bool failed() const { return failed_; }

protected:
    int_type underflow() override {
        bool eof = false;
        if (!reader_.next(buf_, &eof)) failed_ = true;
        if (failed_ || eof) return traits_type::eof();
        setg(buf_.data(), buf_.data(), buf_.data() + buf_.size());
        return traits_type::to_int_type(buf_[0]);
    }

private:
    DecodedReader& reader_;
    std::string buf_;
    bool failed_ = false;
};

bool hasExtension(const std::filesystem::path& path, std::initializer_list<const char*> exts) {
    std::string ext = path.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    return std::any_of(exts.begin(), exts.end(), [&](const char* e) { return ext == e; });
}

void extractJson(const ExtractRequest& request, const SegmentSink& sink, ExtractResult& result) {
    DecodedReader reader;
    if (!reader.open(request, result)) return;
    RecordBatcher batcher(sink, "record");
    Renderer renderer(batcher, 1, 0);
    DecodedStreambuf buf(reader);
    std::istream in(&buf);
    const bool ok = json::sax_parse(in, &renderer, json::input_format_t::json, true);
    batcher.flush();
    result.segmentCount = batcher.segments();
    result.meta.extra["records"] = std::to_string(renderer.records());
    if (buf.failed()) return;  // the reader set the status (read error, cancel)
    reader.noteStats();
    if (!ok) {
        result.status = result.segmentCount > 0 ? ExtractStatus::Partial : ExtractStatus::Error;
        const std::string why = renderer.error().empty() ? "stopped" : renderer.error();
        addWarning(result, request.path, why);
    }
}

void extractJsonLines(const ExtractRequest& request, const SegmentSink& sink,
                      ExtractResult& result) {
    RecordBatcher batcher(sink, "line");
    int64_t good = 0, bad = 0, skipLine = 0;
    std::string line, errors, rendered;
    auto parseLine = [&](int64_t lineNo) {
        if (line.find_first_not_of(" \t") == std::string::npos) return true;
        rendered.clear();
        Renderer renderer(batcher, &rendered);
        if (json::sax_parse(line, &renderer, json::input_format_t::json, true)) {
            ++good;
            if (!rendered.empty() && rendered.back() == '\n') rendered.pop_back();
            return batcher.begin(lineNo, lineNo) && batcher.append(rendered, lineNo) &&
                   batcher.end(lineNo);
        }
        if (++bad <= 5) errors += "; line " + std::to_string(lineNo) + ": " + renderer.error();
        return true;
    };
    LineSplitter lines(
        [&](std::string_view text, int64_t lineNo, bool endsLine) {
            if (lineNo == skipLine) return true;
            line.append(text);
            if (!endsLine && line.size() > kMaxJsonlLine) {
                line.clear();
                skipLine = lineNo;
                if (++bad <= 5)
                    errors += "; line " + std::to_string(lineNo) + ": longer than 16 MiB";
                return true;
            }
            if (!endsLine) return true;
            const bool go = parseLine(lineNo);
            line.clear();
            return go;
        },
        size_t(1) << 20);
    const bool ok =
        streamDecoded(request, result, [&](std::string_view text) { return lines.feed(text); });
    if (ok) lines.finish();
    batcher.flush();
    result.segmentCount = batcher.segments();
    result.meta.extra["records"] = std::to_string(good);
    result.meta.extra["bad_lines"] = std::to_string(bad);
    if (!ok || bad == 0) return;
    result.status = good > 0 ? ExtractStatus::Partial : ExtractStatus::Error;
    addWarning(result, request.path,
               std::to_string(bad) + " bad line" + (bad > 1 ? "s" : "") + errors);
}

}  // namespace

bool JsonExtractor::accepts(const std::filesystem::path& path, const std::string&) const {
    return hasExtension(path, {".json", ".jsonl", ".ndjson", ".geojson"});
}

ExtractResult JsonExtractor::extract(const ExtractRequest& request, const SegmentSink& sink) {
    ExtractResult result;
    if (hasExtension(request.path, {".jsonl", ".ndjson"})) {
        result.meta.mimeType = "application/x-ndjson";
        extractJsonLines(request, sink, result);
    } else {
        result.meta.mimeType = "application/json";
        extractJson(request, sink, result);
    }
    return result;
}

}  // namespace lectern::ingest
