// The state index (schema migration 3): a version 2 store's model_states rows survive the
// migration as document states that are never reused (no prefix hash); rows for documents
// and collections, replaced on the same token count, cascaded away with their owner, and
// the kind/owner columns kept consistent by CHECK constraints.
#include <gtest/gtest.h>

#include "random_model.h"
#include "schema.h"
#include "services_test_util.h"
#include "state_index.h"
#include "store_location.h"

using namespace lectern;
using namespace lectern::store;

TEST(StateIndex, VersionTwoRowsMigrate) {
    const std::string dir = lectern::test::makeTempDir("lectern-state-index");
    {
        Expected<Db> db = Db::open(storeDatabasePath(dir), true);
        ASSERT_TRUE(db) << db.error();
        ASSERT_TRUE(migrate(*db, 2));
        ASSERT_TRUE(
            db->exec("INSERT INTO collections(id, name, created_at) VALUES (1, 'old', 0);"
                     "INSERT INTO documents(id, collection_id, path, status, ingested_at) "
                     "VALUES (5, 1, '/old.txt', 'ok', 0);"
                     "INSERT INTO model_states(document_id, model_id, token_count, state_path, "
                     "created_at) VALUES (5, 'abc', 42, 'states/x.state', 7);"));
    }
    {
        auto st = Store::open(dir);
        ASSERT_TRUE(st) << st.error();
        EXPECT_EQ(*schemaVersion((*st)->database()), kSchemaVersion);
        StateIndex index((*st)->database());
        auto rows = index.forOwner(StateOwner::Document, 5, "abc");
        ASSERT_TRUE(rows) << rows.error();
        ASSERT_EQ(rows->size(), 1u);
        EXPECT_EQ((*rows)[0].tokenCount, 42);
        EXPECT_EQ((*rows)[0].prefixHash, "");  // never matches a text: rebuilt, not reused
        EXPECT_EQ((*rows)[0].lastUsed, 7);
        EXPECT_EQ(*index.ownerName(StateOwner::Document, 5), "/old.txt");
        EXPECT_TRUE((*st)->database().exec("SELECT unit, mean_bits FROM surprise_spans"));
        EXPECT_EQ(*(*st)->integrityCheck(), "ok");
    }
    std::filesystem::remove_all(dir);
}

TEST(StateIndex, PutReplaceCascadeAndConstraints) {
    services::testing::ScratchStore s;
    auto doc = services::testing::writeDocument(*s.store, s.collection, "/a.pdf", {"one"});
    ASSERT_TRUE(doc) << doc.error();
    StateIndex index(s.store->database());
    StateRow r;
    r.owner = StateOwner::Document;
    r.ownerId = *doc;
    r.modelId = "m1";
    r.tokenCount = 10;
    r.path = "states/m1/a-10.state";
    r.bytes = 100;
    auto id = index.put(r);
    ASSERT_TRUE(id) << id.error();
    r.bytes = 200;  // same owner, model and token count: replaced
    auto again = index.put(r);
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, *id);
    r.tokenCount = 20;
    r.snapshot = true;
    ASSERT_TRUE(index.put(r));
    StateRow c = r;
    c.owner = StateOwner::Collection;
    c.ownerId = s.collection;
    ASSERT_TRUE(index.put(c));
    auto rows = index.forOwner(StateOwner::Document, *doc, "m1");
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 2u);
    EXPECT_EQ((*rows)[0].tokenCount, 20);  // most tokens first
    EXPECT_EQ((*rows)[1].bytes, 200);
    EXPECT_TRUE(index.forOwner(StateOwner::Document, *doc, "m2")->empty());
    EXPECT_EQ(*index.ownerName(StateOwner::Collection, s.collection), "c");
    // A document row must name its document (CHECK), and rows go with their owner.
    EXPECT_FALSE(s.store->database().exec(
        "INSERT INTO model_states(kind, owner_id, model_id, state_path, created_at) "
        "VALUES ('document', 1, 'm', 'p', 0)"));
    ASSERT_TRUE(s.store->database().exec("DELETE FROM documents"));
    EXPECT_EQ(index.all()->size(), 1u);  // the collection's row remains
    ASSERT_TRUE(s.store->database().exec("DELETE FROM collections"));
    EXPECT_TRUE(index.all()->empty());
}
