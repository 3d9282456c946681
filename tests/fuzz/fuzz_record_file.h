// Shared by the record fuzzers: extractors read files, so each input is written to one
// per-process scratch file (in TMPDIR, overwritten every run) and extracted from there.
// Every segment must be valid UTF-8; anything else aborts so the fuzzer reports it.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "ingest/extractors/extractor.h"
#include "ingest/extractors/text_decode.h"

inline void fuzzExtractFile(lectern::ingest::Extractor& extractor, const uint8_t* data, size_t size,
                            const std::string& extension) {
    static const std::filesystem::path dir = std::filesystem::temp_directory_path();
    const auto path = dir / ("lectern-fuzz-" + std::to_string(getpid()) + extension);
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
    }
    lectern::ingest::ExtractRequest request;
    request.path = path;
    extractor.extract(request, [](lectern::ingest::Segment&& s) {
        if (!lectern::ingest::isValidUtf8(s.text) || !lectern::ingest::isValidUtf8(s.label)) {
            std::fprintf(stderr, "segment with invalid UTF-8\n");
            std::abort();
        }
        return true;
    });
    std::filesystem::remove(path);
}
