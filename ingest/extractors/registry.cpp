// The built-in extractors in the order the pipeline tries them (most specific first),
// and the status names the store and `lectern-cli status` show.
#include "ingest/extractors/extractor.h"

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
    return out;
}

}  // namespace lectern::ingest
