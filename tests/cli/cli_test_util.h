// Shared by the CLI tests: scratch folders, generated corpora, and checks on a store.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "child_process.h"

namespace lectern::testing {

class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

void writeFile(const std::filesystem::path& path, const std::string& text);

// A mixed corpus: `smallFiles` text/source/CSV/JSONL files, `logs` logs of `logBytes`
// each, and a copy of the bundled samples. Returns the number of files written.
int makeCorpus(const std::filesystem::path& dir, int smallFiles, int logs, size_t logBytes);

// lectern-cli with these arguments (the binary path is prepended).
std::vector<std::string> cli(const std::vector<std::string>& args);

struct Committed {
    std::string status, hash;
    long long segments = 0;
};
// Parses the LECTERN_REPORT_COMMITS lines (only complete lines count).
void parseCommitted(const std::string& out, std::map<std::string, Committed>& into);

// Empty when the store passes integrity checks and every committed document is present
// with the reported hash and segment count; otherwise what is wrong.
std::string verifyStore(const std::filesystem::path& store,
                        const std::map<std::string, Committed>& committed);

}  // namespace lectern::testing
