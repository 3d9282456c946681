// The built-in extractors in the order the pipeline tries them (most specific first),
// and the status names the store and `lectern-cli status` show.
#include "ingest/extractors/csv.h"
#include "ingest/extractors/extractor.h"
#include "ingest/extractors/json.h"
#include "ingest/extractors/mail.h"
#include "ingest/extractors/office.h"
#include "ingest/extractors/pdf_poppler.h"
#include "ingest/extractors/source.h"
#include "ingest/extractors/text.h"

namespace lectern::ingest {

const char* extractStatusName(ExtractStatus status) {
    switch (status) {
        case ExtractStatus::Ok:
            return "ok";
        case ExtractStatus::Partial:
            return "partial";
        case ExtractStatus::Error:
            return "error";
        case ExtractStatus::NeedsPassword:
            return "needs-password";
        case ExtractStatus::WrongPassword:
            return "wrong-password";
        case ExtractStatus::SkippedBinary:
            return "skipped: binary";
        case ExtractStatus::Vanished:
            return "vanished";
        case ExtractStatus::Timeout:
            return "timeout";
        case ExtractStatus::MemoryLimit:
            return "memory-limit";
        case ExtractStatus::Crashed:
            return "crashed";
    }
    return "unknown";
}

std::vector<std::unique_ptr<Extractor>> makeDefaultExtractors() {
    std::vector<std::unique_ptr<Extractor>> out;
    // PDF and office documents first: they accept by magic bytes as well as by extension.
    out.push_back(makePdfExtractor());
    out.push_back(makeOfficeExtractor());
    out.push_back(std::make_unique<MailExtractor>());
    out.push_back(std::make_unique<JsonExtractor>());
    out.push_back(std::make_unique<CsvExtractor>());
    out.push_back(std::make_unique<SourceExtractor>());  // before text: CMakeLists.txt is CMake
    out.push_back(std::make_unique<TextExtractor>());
    out.push_back(std::make_unique<FallbackTextExtractor>());  // anything else: text or binary
    return out;
}

}  // namespace lectern::ingest
