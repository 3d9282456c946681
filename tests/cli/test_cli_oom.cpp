// RELIABILITY MEM-1, ingest part: `lectern-cli ingest` runs under RLIMIT_AS while one PDF's
// extraction needs more memory than it may have (the worker's test hook allocates without
// bound from page 1). That document is recorded as "memory-limit" with an "out of memory"
// message naming it, the process survives, the other files are ingested and searchable, and
// it exits 3 (finished, some inputs failed). In the sanitizer build RLIMIT_AS cannot be used
// (ASan reserves terabytes of address space): the worker's resident-size watch stands in,
// and LeakSanitizer's exit code would turn a leak into a failure here.
#include <gtest/gtest.h>

#include "../asan_build.h"
#include "cli_test_util.h"

using namespace lectern::testing;
namespace fs = std::filesystem;

namespace {

constexpr bool kAsan = lectern::testing::kAsanBuild;

}  // namespace

TEST(CliOutOfMemory, OneDocumentFailsAndTheRestIsIngested) {
    TempDir dir;
    const fs::path in = dir.path() / "in";
    fs::create_directories(in);
    fs::copy_file(fs::path(LECTERN_SOURCE_DIR) / "resources" / "samples" / "contract" /
                      "services-agreement.pdf",
                  in / "greedy.pdf");
    for (int i = 0; i < 20; ++i) {
        writeFile(in / ("note" + std::to_string(i) + ".txt"),
                  "note " + std::to_string(i) + " mentions the quokka clause\n");
    }
    const fs::path store = dir.path() / "store";
    ChildOptions options;
    options.env["LECTERN_PDF_WORKER_TEST"] = "hog@1";
    if (!kAsan) options.addressSpaceLimit = (long long)3 << 30;  // the parent's need is ~1 GiB
    ChildResult r = runChild(
        cli({"--store", store.string(), "ingest", in.string(), "--collection", "oom"}), options);
    ASSERT_EQ(r.exitCode, 3) << r.out << r.err;

    ChildResult status = runChild(cli({"--store", store.string(), "status", "--json"}));
    ASSERT_EQ(status.exitCode, 0) << status.err;
    EXPECT_NE(status.out.find("\"ok\": 20"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("\"memory-limit\": 1"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("out of memory (needed more than"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("greedy.pdf"), std::string::npos) << status.out;

    ChildResult search = runChild(cli(
        {"--store", store.string(), "search", "quokka", "--collection", "oom", "--limit", "50"}));
    ASSERT_EQ(search.exitCode, 0) << search.err;
    EXPECT_NE(search.out.find("note19.txt"), std::string::npos) << search.out;
    EXPECT_EQ(verifyStore(store, {}), "");
}
