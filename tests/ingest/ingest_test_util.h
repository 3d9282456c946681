// Helpers shared by the text, records and walk tests: a scratch folder removed on exit,
// writing bytes to a file, and running an extractor into a vector of segments.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/extractors/extractor.h"

namespace lectern::testing {

class ScratchDir {
public:
    explicit ScratchDir(const std::string& tag) {
        std::string templ =
            (std::filesystem::temp_directory_path() / ("lectern-" + tag + "-XXXXXX")).string();
        path_ = mkdtemp(templ.data()) ? templ : std::string();
    }
    ~ScratchDir() {
        std::error_code ec;
        std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::add, ec);
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

inline void writeFile(const std::filesystem::path& path, std::string_view bytes) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
}

struct Extracted {
    ingest::ExtractResult result;
    std::vector<ingest::Segment> segments;
    std::string allText() const {
        std::string s;
        for (const auto& seg : segments) s += seg.text;
        return s;
    }
};

inline Extracted runExtractor(ingest::Extractor& ex, const std::filesystem::path& path) {
    Extracted out;
    ingest::ExtractRequest req;
    req.path = path;
    out.result = ex.extract(req, [&](ingest::Segment&& s) {
        out.segments.push_back(std::move(s));
        return true;
    });
    return out;
}

}  // namespace lectern::testing
