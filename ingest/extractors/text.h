// Plain text, Markdown and log files of any size, streamed: plain text and logs become
// Lines segments of bounded size ("lines 120-219"); Markdown becomes Section segments
// labelled by their ATX heading ("# Title"). FallbackTextExtractor takes any file no
// other extractor claims: text is extracted as plain text, binary is skipped with a reason.
#pragma once

#include "ingest/extractors/extractor.h"

namespace lectern::ingest {

class TextExtractor : public Extractor {
public:
    const char* name() const override { return "text"; }
    bool accepts(const std::filesystem::path& path, const std::string& head) const override;
    ExtractResult extract(const ExtractRequest& request, const SegmentSink& sink) override;
};

class FallbackTextExtractor : public TextExtractor {
public:
    const char* name() const override { return "fallback"; }
    bool accepts(const std::filesystem::path&, const std::string&) const override { return true; }
};

bool isMarkdownPath(const std::filesystem::path& path);

}  // namespace lectern::ingest
