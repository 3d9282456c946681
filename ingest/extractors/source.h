// Source files: the language comes from the extension or a well-known file name
// (Makefile, CMakeLists.txt, Dockerfile); text is stored as Lines segments whose line
// ranges are exact, so a search hit can cite "src/main.cpp:120-219".
#pragma once

#include "ingest/extractors/extractor.h"

namespace lectern::ingest {

// Language name ("C++", "Python" ...) for a path, or empty when it is not a known source file.
std::string languageForPath(const std::filesystem::path& path);

class SourceExtractor : public Extractor {
public:
    const char* name() const override { return "source"; }
    bool accepts(const std::filesystem::path& path, const std::string& head) const override;
    ExtractResult extract(const ExtractRequest& request, const SegmentSink& sink) override;
};

}  // namespace lectern::ingest
