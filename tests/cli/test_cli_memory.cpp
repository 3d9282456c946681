// A large generated log (256 MiB by default; LECTERN_MEMTEST_MIB to change) is streamed
// through `lectern-cli ingest` in a child process whose peak RSS (getrusage via wait4)
// must stay at or under 512 MiB. The exact line count and a planted phrase at the end
// are checked too, so the bound is not met by dropping text.
#include <gtest/gtest.h>

#include <fstream>

#include "cli_test_util.h"
#include "store.h"

using namespace lectern::testing;
namespace fs = std::filesystem;

TEST(CliMemory, HugeLogStaysUnder512MiB) {
    const char* mibEnv = std::getenv("LECTERN_MEMTEST_MIB");
    const long long target = (mibEnv ? std::atoll(mibEnv) : 256) << 20;
    TempDir dir;
    const fs::path log = dir.path() / "in" / "huge.log";
    fs::create_directories(log.parent_path());
    long long lines = 0;
    {
        std::ofstream out(log, std::ios::binary);
        std::string text;
        for (long long written = 0; written < target;) {
            text = "2024-07-01 03:14:15 INFO shard " + std::to_string(lines % 97) +
                   " compacted segment " + std::to_string(lines) + " of the journal\n";
            out << text;
            written += (long long)text.size();
            ++lines;
        }
        out << "2024-07-01 23:59:59 ERROR planted zanzibar-marker at the end\n";
        ++lines;
    }
    const fs::path store = dir.path() / "store";
    ChildResult r =
        runChild(cli({"--store", store.string(), "ingest", log.string(), "--collection", "m"}));
    ASSERT_EQ(r.exitCode, 0) << r.err;
    const long long peakMiB = r.usage.ru_maxrss / 1024;  // ru_maxrss is in KiB on Linux
    std::printf("peak RSS %lld MiB for a %lld MiB log (%lld lines)\n", peakMiB, target >> 20,
                lines);
    EXPECT_LE(peakMiB, 512);

    auto opened = lectern::store::Store::open(store, {false, nullptr});
    ASSERT_TRUE(opened) << opened.error();
    auto stmt = (*opened)->database().prepare("SELECT max(line_end) FROM segments");
    ASSERT_TRUE(stmt && stmt->step().value());
    EXPECT_EQ(stmt->columnInt(0), lines);
    lectern::store::SearchRequest request{"m", "zanzibar", 5};
    auto hits = (*opened)->search(request);
    ASSERT_TRUE(hits) << hits.error();
    ASSERT_EQ(hits->size(), 1u);
    EXPECT_EQ(hits->front().lineStart <= lines && hits->front().lineEnd >= lines, true);
}
