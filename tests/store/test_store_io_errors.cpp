// CRASH-6 for the store: writes fail at byte N (N = 0, 1, 2, 4, … past the size of the
// transaction), once or for good. Every such ingest step returns an error, the store
// file is byte-identical and logically unchanged afterwards, and no stray file is left.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "fail_vfs.h"
#include "store_location.h"
#include "store_test_util.h"

using namespace lectern;
using namespace lectern::store;
using namespace lectern::store::testing;

namespace {

std::string readAll(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string logicalDump(const std::filesystem::path& dir) {
    Expected<std::unique_ptr<Store>> store = Store::open(dir);
    if (!store) return "open failed: " + store.error();
    Expected<Stmt> stmt = (*store)->database().prepare(
        "SELECT d.path || '|' || d.status || '|' || coalesce(group_concat(s.text, '/'), '') "
        "FROM documents d LEFT JOIN segments s ON s.content_id = d.content_id "
        "GROUP BY d.id ORDER BY d.path");
    std::string dump;
    while (stmt && stmt->step().value()) dump += stmt->columnText(0) + "\n";
    return dump + "integrity: " + (*store)->integrityCheck().value();
}

void runLoop(bool always) {
    registerFailVfs();
    ScratchDir dir;
    {
        Expected<std::unique_ptr<Store>> store = Store::open(dir.path());
        ASSERT_TRUE(store) << store.error();
        const int64_t id = *(*store)->ensureCollection("c");
        ASSERT_TRUE(writeDocument(**store, id, "/a.txt", {"alpha", "beta"}));
    }
    const std::string dumpBefore = logicalDump(dir.path());
    const std::string bytesBefore = readAll(storeDatabasePath(dir.path()));
    std::vector<std::string> texts;
    for (int i = 0; i < 200; ++i) texts.push_back("line " + std::to_string(i) + " of new text");

    int failures = 0;
    for (int64_t n = 0;; n = n == 0 ? 1 : n * 2) {
        Status result;
        {
            Expected<std::unique_ptr<Store>> store = Store::open(dir.path(), {false, kFailVfsName});
            ASSERT_TRUE(store) << store.error();
            armFailVfs(n, always);
            result = writeDocument(**store, 1, "/b.txt", texts);
            if (!failVfsTriggered()) {
                disarmFailVfs();
                ASSERT_TRUE(result) << result.message();
                break;  // the whole transaction fits in n bytes: the loop is done
            }
            disarmFailVfs();
        }
        ++failures;
        EXPECT_FALSE(result) << "n=" << n << ": a failed write was not reported";
        EXPECT_NE(result.message().find(storeDatabasePath(dir.path()).string()), std::string::npos)
            << result.message();
        EXPECT_EQ(logicalDump(dir.path()), dumpBefore) << "n=" << n;
        EXPECT_EQ(readAll(storeDatabasePath(dir.path())), bytesBefore) << "n=" << n;
        for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
            const std::string name = entry.path().filename().string();
            EXPECT_TRUE(name == "lectern.db" || name == "lectern.db-wal" ||
                        name == "lectern.db-shm")
                << "stray file " << name;
        }
        ASSERT_LT(n, int64_t(1) << 40);
    }
    EXPECT_GT(failures, 5);
    EXPECT_NE(logicalDump(dir.path()).find("/b.txt|ok|line 0"), std::string::npos);
}

}  // namespace

TEST(StoreIoErrors, FailOnceAtEveryPowerOfTwo) {
    runLoop(false);
}
TEST(StoreIoErrors, FailAlwaysAtEveryPowerOfTwo) {
    runLoop(true);
}
