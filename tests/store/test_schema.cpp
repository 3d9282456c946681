// Schema versions: a fresh store is at the current version; an older store migrates with
// its data intact; a store from a newer Lectern is refused with a clear message.
#include <gtest/gtest.h>

#include "schema.h"
#include "store_location.h"
#include "store_test_util.h"

using namespace lectern;
using namespace lectern::store;
using namespace lectern::store::testing;

TEST(Schema, FreshStoreIsAtCurrentVersion) {
    ScratchDir dir;
    Expected<std::unique_ptr<Store>> store = Store::open(dir.path());
    ASSERT_TRUE(store) << store.error();
    EXPECT_EQ(*schemaVersion((*store)->database()), kSchemaVersion);
    EXPECT_TRUE((*store)->database().exec("SELECT id, model_id, state_path FROM model_states"));
}

TEST(Schema, VersionOneStoreMigratesWithDataIntact) {
    ScratchDir dir;
    {
        Expected<Db> db = Db::open(storeDatabasePath(dir.path()), true);
        ASSERT_TRUE(db) << db.error();
        ASSERT_TRUE(migrate(*db, 1));
        ASSERT_TRUE(db->exec(
            "INSERT INTO collections(id, name, created_at) VALUES (1, 'old', 0);"
            "INSERT INTO contents(id, hash, kind, state, segment_count) "
            "VALUES (1, 'h', 'text', 'complete', 1);"
            "INSERT INTO documents(collection_id, path, content_id, status, ingested_at) "
            "VALUES (1, '/old.txt', 1, 'ok', 0);"
            "INSERT INTO segments(content_id, seq, kind, ordinal, line_start, line_end, label, "
            "text) VALUES (1, 0, 1, 1, 1, 1, 'line 1', 'legacy indemnify clause');"));
        EXPECT_EQ(*schemaVersion(*db), 1);
        EXPECT_FALSE(db->exec("SELECT replaced_bytes FROM documents"));
    }
    Expected<std::unique_ptr<Store>> store = Store::open(dir.path());
    ASSERT_TRUE(store) << store.error();
    EXPECT_EQ(*schemaVersion((*store)->database()), kSchemaVersion);
    EXPECT_EQ(searchPaths(**store, "old", "indemnify"), std::vector<std::string>{"/old.txt"});
    EXPECT_TRUE((*store)->database().exec("SELECT replaced_bytes, meta FROM documents"));
    EXPECT_EQ(*(*store)->integrityCheck(), "ok");
}

TEST(Schema, NewerStoreIsRefused) {
    ScratchDir dir;
    {
        Expected<std::unique_ptr<Store>> store = Store::open(dir.path());
        ASSERT_TRUE(store);
        ASSERT_TRUE((*store)->database().exec("PRAGMA user_version = 99"));
    }
    Expected<std::unique_ptr<Store>> store = Store::open(dir.path());
    ASSERT_FALSE(store);
    EXPECT_NE(store.error().find("newer"), std::string::npos) << store.error();
}

TEST(Schema, GarbageFileIsAClearError) {
    ScratchDir dir;
    {
        FILE* f = std::fopen(storeDatabasePath(dir.path()).c_str(), "wb");
        ASSERT_TRUE(f);
        std::fputs("this is not an SQLite database, just some text that is long enough....", f);
        std::fclose(f);
    }
    Expected<std::unique_ptr<Store>> store = Store::open(dir.path());
    ASSERT_FALSE(store);
    EXPECT_NE(store.error().find(storeDatabasePath(dir.path()).string()), std::string::npos)
        << store.error();
}

TEST(StoreLocation, FollowsCliThenEnvironmentThenXdg) {
    EXPECT_EQ(*resolveStoreDir("/cli"), "/cli");
    setenv("LECTERN_STORE", "/env", 1);
    EXPECT_EQ(*resolveStoreDir(""), "/env");
    unsetenv("LECTERN_STORE");
    setenv("XDG_DATA_HOME", "/xdg", 1);
    EXPECT_EQ(*resolveStoreDir(""), "/xdg/lectern");
    setenv("XDG_DATA_HOME", "relative", 1);  // invalid per the XDG spec: ignored
    setenv("HOME", "/home/u", 1);
    EXPECT_EQ(*resolveStoreDir(""), "/home/u/.local/share/lectern");
}
