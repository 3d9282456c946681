// CLI test helpers; see cli_test_util.h.
#include "cli_test_util.h"

#include <stdlib.h>

#include <fstream>
#include <sstream>

#include "store.h"

namespace lectern::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
    std::string pattern = (fs::temp_directory_path() / "lectern-cli-test.XXXXXX").string();
    if (mkdtemp(pattern.data())) path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
}

void writeFile(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
}

int makeCorpus(const fs::path& dir, int smallFiles, int logs, size_t logBytes) {
    int files = 0;
    for (int i = 0; i < smallFiles; ++i) {
        const std::string n = std::to_string(i);
        const fs::path sub = dir / ("part" + std::to_string(i % 7));
        switch (i % 4) {
            case 0:
                writeFile(sub / ("note" + n + ".txt"), "Note " + n + ": termination clause " + n +
                                                           "\nsecond line with café " + n + "\n");
                break;
            case 1:
                writeFile(sub / ("mod" + n + ".c"), "/* module " + n + " */\nint f" + n +
                                                        "(int x) {\n    return x + " + n +
                                                        "; /* timeout */\n}\n");
                break;
            case 2:
                writeFile(sub / ("rows" + n + ".csv"),
                          "id,text\n1,\"row one " + n + "\"\n2,\"row two\nspans lines\"\n");
                break;
            default:
                writeFile(sub / ("events" + n + ".jsonl"),
                          "{\"event\": \"start\", \"n\": " + n + "}\n{\"event\": \"indemnify\"}\n");
        }
        ++files;
    }
    for (int i = 0; i < logs; ++i) {
        std::ofstream out(dir / ("big" + std::to_string(i) + ".log"), std::ios::binary);
        size_t written = 0;
        for (long line = 1; written < logBytes; ++line) {
            const std::string text = "2024-06-01 12:00:00 INFO worker " + std::to_string(i) +
                                     " handled request " + std::to_string(line) + " in 12 ms\n";
            out << text;
            written += text.size();
        }
        ++files;
    }
    const fs::path samples = fs::path(LECTERN_SOURCE_DIR) / "resources" / "samples";
    fs::copy(samples, dir / "samples", fs::copy_options::recursive);
    for (const auto& entry : fs::recursive_directory_iterator(dir / "samples")) {
        if (entry.is_regular_file()) ++files;
    }
    return files;
}

std::vector<std::string> cli(const std::vector<std::string>& args) {
    std::vector<std::string> argv{LECTERN_CLI};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

void parseCommitted(const std::string& out, std::map<std::string, Committed>& into) {
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
        if (lines.eof()) break;  // no newline: the child died mid-line
        if (line.rfind("committed\t", 0) != 0) continue;
        std::istringstream fields(line);
        std::string tag, status, hash, segments, path;
        std::getline(fields, tag, '\t');
        std::getline(fields, status, '\t');
        std::getline(fields, hash, '\t');
        std::getline(fields, segments, '\t');
        std::getline(fields, path);
        into[path] = {status, hash, std::stoll(segments)};
    }
}

std::string verifyStore(const fs::path& dir, const std::map<std::string, Committed>& committed) {
    Expected<std::unique_ptr<store::Store>> opened = store::Store::open(dir, {false, nullptr});
    if (!opened) return "open: " + opened.error();
    store::Store& s = **opened;
    Expected<std::string> integrity = s.integrityCheck();
    if (!integrity) return "integrity: " + integrity.error();
    if (*integrity != "ok") return "integrity: " + *integrity;
    Expected<store::Stmt> stmt = s.database().prepare(
        "SELECT d.status, d.content_hash, coalesce(c.segment_count, 0), "
        "(SELECT count(*) FROM segments WHERE content_id = d.content_id) "
        "FROM documents d LEFT JOIN contents c ON c.id = d.content_id WHERE d.path = ?1");
    if (!stmt) return stmt.error();
    std::string problems;
    for (const auto& [path, doc] : committed) {
        stmt->reset();
        stmt->bind(1, path);
        Expected<bool> row = stmt->step();
        if (!row || !*row) {
            problems += path + ": reported committed but missing\n";
            continue;
        }
        const std::string status = stmt->columnText(0), hash = stmt->columnText(1);
        const long long count = stmt->columnInt(2), actual = stmt->columnInt(3);
        if (status != doc.status || hash != doc.hash || count != doc.segments ||
            actual != doc.segments) {
            problems += path + ": stored " + status + "/" + hash + "/" + std::to_string(count) +
                        "/" + std::to_string(actual) + " but reported " + doc.status + "/" +
                        doc.hash + "/" + std::to_string(doc.segments) + "\n";
        }
    }
    return problems;
}

}  // namespace lectern::testing
