// CSV and TSV records (RFC 4180: quoted fields with delimiters, "" and newlines), streamed:
// rows are grouped into Record segments whose ordinal and label give the row numbers and
// whose line range gives the physical lines. An unbalanced quote at the end of the file
// keeps the rows before it and yields Partial with the line where the quote opened.
#pragma once

#include "ingest/extractors/extractor.h"

namespace lectern::ingest {

class CsvExtractor : public Extractor {
public:
    const char* name() const override { return "csv"; }
    bool accepts(const std::filesystem::path& path, const std::string& head) const override;
    ExtractResult extract(const ExtractRequest& request, const SegmentSink& sink) override;
};

}  // namespace lectern::ingest
