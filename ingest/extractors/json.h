// JSON (.json) and JSON Lines (.jsonl, .ndjson). JSON: each element of a root array (or
// member of a root object) is one record. JSONL: each line is one record numbered by its
// line; a bad line is reported by number (Partial) and the other lines are kept.
// Nesting deeper than 512 levels is an error value, never a stack overflow.
#pragma once

#include "ingest/extractors/extractor.h"

namespace lectern::ingest {

class JsonExtractor : public Extractor {
public:
    const char* name() const override { return "json"; }
    bool accepts(const std::filesystem::path& path, const std::string& head) const override;
    ExtractResult extract(const ExtractRequest& request, const SegmentSink& sink) override;
};

}  // namespace lectern::ingest
