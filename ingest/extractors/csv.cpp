// CSV/TSV (RFC 4180) as a streaming state machine over decoded text (csv.h). Quoted fields
// may hold delimiters, "" escapes and newlines; physical lines are counted separately from
// records so each segment cites both. Lenient where RFC 4180 is silent: a quote inside an
// unquoted field is literal, text after a closing quote is kept, blank lines are skipped.
#include "ingest/extractors/csv.h"

#include <algorithm>
#include <cctype>

#include "ingest/extractors/record_batch.h"
#include "ingest/extractors/text_stream.h"

namespace lectern::ingest {
namespace {

class CsvParser {
public:
    CsvParser(RecordBatcher& out, char delimiter) : out_(out), delim_(delimiter) {}
    bool feed(std::string_view text);
    bool finish();
    int64_t records() const { return record_; }
    int64_t lines() const { return line_; }
    bool unbalanced() const { return inQuotes_; }
    int64_t quoteLine() const { return quoteLine_; }
    int64_t maxFields() const { return maxFields_; }

private:
    bool startRecordIfNeeded();
    bool endField();
    bool endRecord();
    bool newline(char c);

    RecordBatcher& out_;
    char delim_;
    std::string field_;
    bool inQuotes_ = false, quoteSeen_ = false, inRecord_ = false, pendingCR_ = false;
    int64_t record_ = 0, line_ = 1, quoteLine_ = 0, fields_ = 0, maxFields_ = 0;
};

bool CsvParser::startRecordIfNeeded() {
    if (inRecord_) return true;
    inRecord_ = true;
    fields_ = 0;
    return out_.begin(++record_, line_);
}

bool CsvParser::endField() {
    if (!startRecordIfNeeded()) return false;
    if (fields_++ > 0 && !out_.append(" | ", line_)) return false;
    const bool ok = out_.append(field_, line_);
    field_.clear();
    return ok;
}

bool CsvParser::endRecord() {
    if (!endField()) return false;
    maxFields_ = std::max(maxFields_, fields_);
    inRecord_ = false;
    return out_.end(line_);
}

// Handles '\r' / '\n' outside quotes: ends the record (blank lines end nothing).
bool CsvParser::newline(char c) {
    const bool blank = !inRecord_ && field_.empty();
    if (!blank && !endRecord()) return false;
    if (c == '\r') pendingCR_ = true;
    ++line_;
    return true;
}

bool CsvParser::feed(std::string_view text) {
    for (const char c : text) {
        if (pendingCR_) {
            pendingCR_ = false;
            if (c == '\n') continue;  // the '\n' of a "\r\n" already counted
        }
        if (inQuotes_) {
            if (c == '"') {
                inQuotes_ = false;
                quoteSeen_ = true;
            } else {
                if (c == '\n' || c == '\r') ++line_;
                if (c == '\r') pendingCR_ = true;
                field_ += c == '\r' ? '\n' : c;
            }
        } else if (c == '"' && quoteSeen_) {  // "" inside a quoted field: a literal quote
            field_ += '"';
            inQuotes_ = true;
            quoteSeen_ = false;
        } else if (c == '"' && field_.empty()) {
            inQuotes_ = true;
            quoteLine_ = line_;
            if (!startRecordIfNeeded()) return false;
        } else {
            quoteSeen_ = false;
            if (c == delim_) {
                if (!endField()) return false;
            } else if (c == '\n' || c == '\r') {
                if (!newline(c)) return false;
            } else {
                field_ += c;
            }
        }
        // A field longer than the cap goes out in pieces; the record stays open.
        if (field_.size() > (size_t(64) << 10)) {
            const size_t cut = utf8CutPoint(field_, size_t(64) << 10);
            if (!startRecordIfNeeded() ||
                !out_.append(std::string_view(field_).substr(0, cut), line_))
                return false;
            field_.erase(0, cut);
        }
    }
    return true;
}

bool CsvParser::finish() {
    if (inRecord_ || !field_.empty()) return endRecord();
    return true;
}

// Most frequent of ',', ';', '\t' outside quotes in the first line; ',' on ties.
char sniffDelimiter(std::string_view text) {
    size_t comma = 0, semi = 0, tab = 0;
    bool quoted = false;
    for (const char c : text.substr(0, 64 << 10)) {
        if (c == '"') quoted = !quoted;
        if (quoted) continue;
        if (c == '\n' || c == '\r') break;
        comma += c == ',';
        semi += c == ';';
        tab += c == '\t';
    }
    if (tab > comma && tab >= semi) return '\t';
    if (semi > comma) return ';';
    return ',';
}

}  // namespace

bool CsvExtractor::accepts(const std::filesystem::path& path, const std::string&) const {
    std::string ext = path.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    return ext == ".csv" || ext == ".tsv" || ext == ".tab";
}

ExtractResult CsvExtractor::extract(const ExtractRequest& request, const SegmentSink& sink) {
    ExtractResult result;
    result.meta.mimeType = "text/csv";
    RecordBatcher batcher(sink, "row");
    const std::string ext = request.path.extension().string();
    char delimiter = (ext == ".tsv" || ext == ".tab") ? '\t' : 0;
    std::unique_ptr<CsvParser> parser;
    const bool ok = streamDecoded(request, result, [&](std::string_view text) {
        if (!parser) {
            if (delimiter == 0) delimiter = sniffDelimiter(text);
            parser = std::make_unique<CsvParser>(batcher, delimiter);
        }
        return parser->feed(text);
    });
    if (ok && parser) {
        parser->finish();
        batcher.flush();
        result.meta.extra["rows"] = std::to_string(parser->records());
        result.meta.extra["columns"] = std::to_string(parser->maxFields());
        if (parser->unbalanced()) {
            result.status = ExtractStatus::Partial;
            addWarning(result, request.path,
                       "unbalanced quote: the quoted field opened on line " +
                           std::to_string(parser->quoteLine()) + " (row " +
                           std::to_string(parser->records()) + ") runs to the end of the file");
        }
    } else if (ok) {
        result.meta.extra["rows"] = "0";
    } else if (batcher.stopped()) {
        result.status = ExtractStatus::Partial;
        addWarning(result, request.path, "stopped by the consumer");
    }
    result.segmentCount = batcher.segments();
    return result;
}

}  // namespace lectern::ingest
