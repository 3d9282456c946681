// Store write benchmark (not a test: prints numbers, asserts none). Times the writes the
// ingest pipeline's single writer thread makes (pending content, segments, complete,
// document row, grouped commits) on files read into memory first, so it measures the
// writer alone: the part that caps ingest throughput. CPU time, not wall time, because the
// machine is shared. Segments are cut like the text extractor's: ~4 KB at line ends.
// --fts-only TOKENIZER writes the same segments into a bare FTS5 table with that
// tokenizer instead (what FTS5 alone costs, to compare with the store's full writes).
// --pretokenize computes the FTS5 tokens before timing, as the extraction threads do.
// --segment-kb N cuts N KB segments instead of 4 (what segment size costs the writer).
// Usage: bench_store_write STORE_DIR TREE [--limit-files N] [--commit-mb N] [--pretokenize]
//                          [--segment-kb N]
//                          [--fts-only lectern|unicode61] [--sql SQL_RUN_AFTER_OPEN]
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "content_hash.h"
#include "store.h"

using namespace lectern;
using lectern::store::Stmt;
namespace fs = std::filesystem;

namespace {

double processCpuSeconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

struct File {
    std::string path;
    std::string hash;
    std::vector<ingest::Segment> segments;
    std::vector<store::PretokenizedText> tokens;  // with --pretokenize
    int64_t bytes = 0;
};

// ~4 KB segments ending at a line end, with their 1-based line ranges.
std::vector<ingest::Segment> cutSegments(const std::string& text, size_t segmentBytes) {
    std::vector<ingest::Segment> out;
    int64_t line = 1;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = std::min(text.size(), pos + segmentBytes);
        if (end < text.size()) {
            const size_t nl = text.rfind('\n', end);
            if (nl != std::string::npos && nl > pos) end = nl + 1;
        }
        ingest::Segment& s = out.emplace_back();
        s.text = text.substr(pos, end - pos);
        s.lineStart = line;
        line += std::count(s.text.begin(), s.text.end(), '\n');
        s.lineEnd = std::max(s.lineStart, line - (s.text.back() == '\n' ? 1 : 0));
        s.ordinal = int64_t(out.size());
        pos = end;
    }
    return out;
}

bool looksBinary(const std::string& text) {
    return std::memchr(text.data(), 0, std::min<size_t>(text.size(), 8192)) != nullptr;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr,
                     "usage: bench_store_write STORE_DIR TREE [--limit-files N] [--commit-mb N]\n");
        return 2;
    }
    const fs::path storeDir = argv[1];
    const fs::path tree = argv[2];
    size_t limitFiles = SIZE_MAX;
    int64_t commitBytes = int64_t(16) << 20;
    std::string ftsOnly, sql;
    bool pretokenized = false;
    size_t segmentBytes = 4096;
    for (int i = 3; i < argc; ++i) {
        const std::string arg = argv[i];
        const char* value = i + 1 < argc ? argv[i + 1] : "";
        if (arg == "--pretokenize") {
            pretokenized = true;
            continue;
        }
        if (arg == "--limit-files") limitFiles = std::strtoull(value, nullptr, 10);
        if (arg == "--commit-mb") commitBytes = std::atoll(value) << 20;
        if (arg == "--fts-only") ftsOnly = value;
        if (arg == "--sql") sql = value;
        if (arg == "--segment-kb") segmentBytes = std::strtoull(value, nullptr, 10) << 10;
        ++i;
    }

    std::vector<File> files;
    int64_t totalBytes = 0;
    store::TextTokenizer tokenizer;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(tree, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
        if (files.size() >= limitFiles) break;
        if (!it->is_regular_file(ec) || it->file_size(ec) > (8u << 20)) continue;
        std::ifstream in(it->path(), std::ios::binary);
        std::stringstream buffer;
        buffer << in.rdbuf();
        std::string text = buffer.str();
        if (text.empty() || looksBinary(text)) continue;
        File& f = files.emplace_back();
        f.path = it->path().string();
        f.hash = store::hashBytes(text);
        f.bytes = int64_t(text.size());
        f.segments = cutSegments(text, segmentBytes);
        if (pretokenized) {  // the extraction threads' share, not timed
            for (const ingest::Segment& segment : f.segments) {
                f.tokens.push_back(store::pretokenize(tokenizer, segment.text));
            }
        }
        totalBytes += f.bytes;
    }
    std::sort(files.begin(), files.end(),
              [](const File& a, const File& b) { return a.path < b.path; });

    fs::remove_all(storeDir, ec);
    Expected<std::unique_ptr<store::Store>> opened = store::Store::open(storeDir);
    if (!opened) {
        std::fprintf(stderr, "%s\n", opened.status().message().c_str());
        return 1;
    }
    store::Store& st = **opened;
    auto check = [](const Status& s) {
        if (!s) {
            std::fprintf(stderr, "%s\n", s.message().c_str());
            std::exit(1);
        }
    };
    Expected<int64_t> collection = st.ensureCollection("bench");
    if (!collection) return 1;

    if (!sql.empty()) check(st.database().exec(sql.c_str()));
    Stmt ftsInsert;
    if (!ftsOnly.empty()) {
        const std::string create =
            "CREATE VIRTUAL TABLE bare USING fts5(text, tokenize = '" + ftsOnly + "')";
        check(st.database().exec(create.c_str()));
        Expected<Stmt> insert = st.database().prepare("INSERT INTO bare(text) VALUES (?1)");
        check(insert.status());
        ftsInsert = std::move(*insert);
    }

    const double cpu0 = processCpuSeconds();
    int64_t segments = 0, inTransaction = 0, linked = 0;
    bool open = false;
    for (const File& f : files) {
        if (!open) {
            check(st.begin());
            open = true;
        }
        if (!ftsOnly.empty()) {
            for (const ingest::Segment& segment : f.segments) {
                check(ftsInsert.bind(1, segment.text).run());
            }
            segments += int64_t(f.segments.size());
            inTransaction += f.bytes;
            if (inTransaction >= commitBytes) {
                check(st.commit());
                open = false;
                inTransaction = 0;
            }
            continue;
        }
        // Content already stored (an identical file): the extractor would send a Link.
        Expected<int64_t> existing = st.findContent(f.hash, "text");
        check(existing.status());
        if (*existing != 0) {
            store::DocumentWrite doc;
            doc.collectionId = *collection;
            doc.path = f.path;
            doc.kind = "text";
            doc.size = f.bytes;
            doc.hash = f.hash;
            doc.contentId = *existing;
            check(st.putDocument(doc));
            ++linked;
            continue;
        }
        Expected<int64_t> content = st.createPendingContent(f.hash, "text");
        check(content.status());
        for (size_t i = 0; i < f.segments.size(); ++i) {
            check(st.appendSegment(*content, int64_t(i), f.segments[i],
                                   pretokenized ? &f.tokens[i] : nullptr));
        }
        Expected<int64_t> done = st.completeContent(*content, int64_t(f.segments.size()), f.bytes);
        check(done.status());
        store::DocumentWrite doc;
        doc.collectionId = *collection;
        doc.path = f.path;
        doc.kind = "text";
        doc.size = f.bytes;
        doc.hash = f.hash;
        doc.contentId = *done;
        check(st.putDocument(doc));
        segments += int64_t(f.segments.size());
        inTransaction += f.bytes;
        if (inTransaction >= commitBytes) {
            check(st.commit());
            open = false;
            inTransaction = 0;
        }
    }
    if (open) check(st.commit());
    const double cpu = processCpuSeconds() - cpu0;
    std::printf(
        "== writer alone%s: %zu files (%lld identical to an earlier one), %lld segments, %.1f MB: "
        "%.2f CPU s, %.0f files per "
        "CPU s, %.1f MB per CPU s\n",
        pretokenized ? " (tokens precomputed)" : "", files.size(), static_cast<long long>(linked),
        static_cast<long long>(segments), double(totalBytes) / 1e6, cpu, double(files.size()) / cpu,
        double(totalBytes) / 1e6 / cpu);
    return 0;
}
