// TXT-4, CI size: a 256 MiB generated log (192 MiB of short lines with planted phrases
// at known lines, then one 64 MiB line with no newline) is streamed through the text
// extractor. Pass: exact line count, every planted phrase found at its line, and the
// growth of peak RSS stays far below the file size (the 64 MiB line is never held whole).
// The nightly 2 GiB run: LECTERN_HUGE_LOG_MIB=2048 (size of the short-line part + 64 MiB).
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <map>

#include "ingest/extractors/text.h"
#include "ingest/ingest_test_util.h"

using namespace lectern::ingest;

#if defined(__SANITIZE_ADDRESS__)
// ASan's quarantine (256 MiB by default) holds freed blocks and would swamp the RSS
// measure; a small one keeps use-after-free detection and measures our memory.
extern "C" const char* __asan_default_options() {
    return "quarantine_size_mb=4";
}
#endif

namespace {

int64_t peakRssBytes() {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    return int64_t(ru.ru_maxrss) * 1024;
}

TEST(HugeLog, StreamsWithBoundedMemoryAndExactLines) {
    lectern::testing::ScratchDir dir("hugelog");
    const auto path = dir / "big.log";
    std::map<int64_t, std::string> planted;
    int64_t lines = 0;
    {
        std::FILE* f = std::fopen(path.c_str(), "wb");
        ASSERT_NE(f, nullptr);
        std::string block;
        const char* mib = std::getenv("LECTERN_HUGE_LOG_MIB");
        const int64_t total = mib ? std::max<int64_t>(std::atoll(mib), 128) : 256;
        const int64_t shortBytes = (total - 64) << 20;
        int64_t written = 0;
        while (written < shortBytes) {
            block.clear();
            while (block.size() < (size_t(1) << 20)) {
                ++lines;
                char buf[160];
                int n;
                if (lines % 99991 == 0) {
                    n = std::snprintf(buf, sizeof buf,
                                      "2026-11-22T05:00:00 ERROR planted-%lld zebra\n",
                                      static_cast<long long>(lines));
                    planted[lines] = std::string(buf, size_t(n) - 1);
                } else {
                    n = std::snprintf(buf, sizeof buf,
                                      "2026-11-22T05:00:00 INFO request %lld served in 3 ms\n",
                                      static_cast<long long>(lines));
                }
                block.append(buf, size_t(n));
            }
            written += int64_t(std::fwrite(block.data(), 1, block.size(), f));
        }
        std::string longLine(size_t(1) << 20, 'x');
        longLine.replace(100, 17, "needle-in-longline");
        for (int i = 0; i < 64; ++i) std::fwrite(longLine.data(), 1, longLine.size(), f);
        ++lines;  // the final 64 MiB line has no newline
        std::fclose(f);
    }
    const int64_t before = peakRssBytes();
    TextExtractor ex;
    ExtractRequest req;
    req.path = path;
    std::map<int64_t, bool> found;
    int64_t segments = 0, maxSegment = 0, longLinePieces = 0;
    bool needle = false;
    const ExtractResult result = ex.extract(req, [&](Segment&& s) {
        ++segments;
        maxSegment = std::max<int64_t>(maxSegment, int64_t(s.text.size()));
        if (s.lineStart == lines) {
            ++longLinePieces;
            needle = needle || s.text.find("needle-in-longline") != std::string::npos;
        }
        for (auto it = planted.lower_bound(s.lineStart);
             it != planted.end() && it->first <= s.lineEnd; ++it) {
            // The planted line sits at offset (line - lineStart) in the segment's lines.
            size_t pos = 0;
            for (int64_t l = s.lineStart; l < it->first; ++l) pos = s.text.find('\n', pos) + 1;
            found[it->first] = s.text.compare(pos, it->second.size(), it->second) == 0;
        }
        return true;
    });
    const int64_t growth = peakRssBytes() - before;
    ASSERT_EQ(result.status, ExtractStatus::Ok) << result.message;
    EXPECT_EQ(result.meta.extra.at("lines"), std::to_string(lines));
    EXPECT_EQ(int64_t(found.size()), int64_t(planted.size()));
    for (const auto& [line, ok] : found) EXPECT_TRUE(ok) << "planted line " << line;
    EXPECT_TRUE(needle);
    EXPECT_EQ(longLinePieces, 64 * 128);  // 64 MiB in 8 KiB segments, all citing one line
    EXPECT_LE(maxSegment, 8 << 10);
    std::printf("peak RSS growth %.1f MiB over %lld segments\n", double(growth) / (1 << 20),
                static_cast<long long>(segments));
    // TXT-4 allows 512 MiB peak for 2 GiB; the file here is 256 MiB and the long line
    // alone is 64 MiB, so 48 MiB of growth proves neither is held whole.
    EXPECT_LT(growth, int64_t(48) << 20);
    EXPECT_LT(peakRssBytes(), int64_t(512) << 20);
}

}  // namespace
