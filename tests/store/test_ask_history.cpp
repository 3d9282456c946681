// The ask history (schema migration 4, ingest/store/ask_history.h) on a real store: records
// and their passages round-trip, newest first; scopes (the whole collection, its
// collection-wide questions, one document) list and clear only their own; a deleted
// document or collection takes its history with it; a version 3 store with data migrates
// up keeping that data, and then holds history that survives closing and reopening.
#include <gtest/gtest.h>

#include "ask_history.h"
#include "schema.h"
#include "store_location.h"
#include "store_test_util.h"

using namespace lectern;
using namespace lectern::store;
using namespace lectern::store::testing;

namespace {

AskRecord record(int64_t collection, int64_t document, const std::string& question) {
    AskRecord r;
    r.collectionId = collection;
    r.documentId = document;
    r.question = question;
    r.answer = "answer to " + question;
    r.stopReason = "stop string";
    r.modelId = "0123456789abcdef";
    r.modelName = "default";
    r.stateOrigin = "resident";
    r.stateTokens = 1234;
    r.answerTokens = 17;
    r.firstTokenSeconds = 0.0415;
    r.tokensPerSecond = 361.5;
    r.totalSeconds = 1.25;
    r.askedAt = 1795000000;
    return r;
}

int64_t documentId(Store& store, const std::string& collection, const std::string& path) {
    auto docs = store.listDocuments(collection);
    if (!docs) return 0;
    for (const DocumentInfo& d : *docs)
        if (d.path == path) return d.id;
    return 0;
}

}  // namespace

TEST(AskHistory, RecordsAndPassagesRoundTripNewestFirst) {
    ScratchDir dir;
    auto store = Store::open(dir.path());
    ASSERT_TRUE(store) << store.error();
    Store& s = **store;
    const int64_t col = *s.ensureCollection("case");
    ASSERT_TRUE(writeDocument(s, col, "/case/contract.pdf", {"terminate on notice"}));
    const int64_t doc = documentId(s, "case", "/case/contract.pdf");
    ASSERT_GT(doc, 0);

    AskHistory history(s.database());
    AskRecord first = record(col, doc, "When may a party terminate?");
    first.asOfPage = 3;
    first.answer = "Après préavis — «30 jours» ✓";  // non-ASCII text survives
    first.passages = {{doc, "/case/contract.pdf", "page 2", 2, 0, 0, "[terminate] on notice"},
                      {doc, "/case/contract.pdf", "page 3", 3, 0, 0, "second"}};
    auto id1 = history.add(first);
    ASSERT_TRUE(id1) << id1.error();
    auto id2 = history.add(record(col, 0, "Who are the parties?"));
    ASSERT_TRUE(id2) << id2.error();
    EXPECT_GT(*id2, *id1);

    auto all = history.list({col, -1});
    ASSERT_TRUE(all) << all.error();
    ASSERT_EQ(all->size(), 2u);
    EXPECT_EQ((*all)[0].question, "Who are the parties?");  // newest first
    EXPECT_EQ((*all)[0].documentId, 0);
    EXPECT_TRUE((*all)[0].passages.empty());
    const AskRecord& back = (*all)[1];
    EXPECT_EQ(back.id, *id1);
    EXPECT_EQ(back.documentId, doc);
    EXPECT_EQ(back.asOfPage, 3);
    EXPECT_EQ(back.answer, first.answer);
    EXPECT_EQ(back.stopReason, "stop string");
    EXPECT_EQ(back.modelId, "0123456789abcdef");
    EXPECT_EQ(back.modelName, "default");
    EXPECT_EQ(back.stateOrigin, "resident");
    EXPECT_EQ(back.stateTokens, 1234);
    EXPECT_EQ(back.answerTokens, 17);
    EXPECT_DOUBLE_EQ(back.firstTokenSeconds, 0.0415);
    EXPECT_DOUBLE_EQ(back.tokensPerSecond, 361.5);
    EXPECT_DOUBLE_EQ(back.totalSeconds, 1.25);
    EXPECT_EQ(back.askedAt, 1795000000);
    ASSERT_EQ(back.passages.size(), 2u);
    EXPECT_EQ(back.passages[0].location, "page 2");
    EXPECT_EQ(back.passages[0].page, 2);
    EXPECT_EQ(back.passages[0].snippet, "[terminate] on notice");
    EXPECT_EQ(back.passages[1].location, "page 3");

    auto limited = history.list({col, -1}, 1);
    ASSERT_TRUE(limited);
    ASSERT_EQ(limited->size(), 1u);
    EXPECT_EQ((*limited)[0].id, *id2);
}

TEST(AskHistory, ScopesListAndClearOnlyTheirOwn) {
    ScratchDir dir;
    auto store = Store::open(dir.path());
    ASSERT_TRUE(store) << store.error();
    Store& s = **store;
    const int64_t a = *s.ensureCollection("a"), b = *s.ensureCollection("b");
    ASSERT_TRUE(writeDocument(s, a, "/a/one.txt", {"one"}));
    ASSERT_TRUE(writeDocument(s, a, "/a/two.txt", {"two"}));
    const int64_t one = documentId(s, "a", "/a/one.txt"), two = documentId(s, "a", "/a/two.txt");
    AskHistory history(s.database());
    AskRecord p = record(a, one, "q one");
    p.passages = {{one, "/a/one.txt", "line 1", 0, 1, 1, "one"}};
    ASSERT_TRUE(history.add(p));
    ASSERT_TRUE(history.add(record(a, two, "q two")));
    ASSERT_TRUE(history.add(record(a, 0, "q all")));
    ASSERT_TRUE(history.add(record(b, 0, "q other collection")));

    auto questions = [&](AskScope scope) {
        std::vector<std::string> q;
        auto rows = history.list(scope);
        if (!rows) return std::vector<std::string>{"error: " + rows.error()};
        for (const AskRecord& r : *rows) q.push_back(r.question);
        return q;
    };
    EXPECT_EQ(questions({a, -1}), (std::vector<std::string>{"q all", "q two", "q one"}));
    EXPECT_EQ(questions({a, 0}), std::vector<std::string>{"q all"});
    EXPECT_EQ(questions({a, one}), std::vector<std::string>{"q one"});
    EXPECT_EQ(questions({b, -1}), std::vector<std::string>{"q other collection"});
    // A record of another scope inside the listed id range does not lend its passages.
    auto twoRows = history.list({a, two});
    ASSERT_TRUE(twoRows);
    ASSERT_EQ(twoRows->size(), 1u);
    EXPECT_TRUE((*twoRows)[0].passages.empty());

    auto cleared = history.clear({a, one});
    ASSERT_TRUE(cleared) << cleared.error();
    EXPECT_EQ(*cleared, 1);
    EXPECT_EQ(questions({a, -1}), (std::vector<std::string>{"q all", "q two"}));
    cleared = history.clear({a, -1});
    ASSERT_TRUE(cleared);
    EXPECT_EQ(*cleared, 2);
    EXPECT_TRUE(questions({a, -1}).empty());
    EXPECT_EQ(questions({b, -1}), std::vector<std::string>{"q other collection"});
    // The cleared records' passages went with them.
    Expected<Stmt> n = s.database().prepare("SELECT count(*) FROM ask_history_passages");
    ASSERT_TRUE(n);
    ASSERT_TRUE(*n->step());
    EXPECT_EQ(n->columnInt(0), 0);
}

TEST(AskHistory, DeletedOwnersTakeTheirHistoryAndBadOwnersAreRefused) {
    ScratchDir dir;
    auto store = Store::open(dir.path());
    ASSERT_TRUE(store) << store.error();
    Store& s = **store;
    const int64_t col = *s.ensureCollection("gone");
    ASSERT_TRUE(writeDocument(s, col, "/gone/doc.txt", {"text"}));
    const int64_t doc = documentId(s, "gone", "/gone/doc.txt");
    AskHistory history(s.database());
    ASSERT_TRUE(history.add(record(col, doc, "about the document")));
    ASSERT_TRUE(history.add(record(col, 0, "about the collection")));
    EXPECT_FALSE(history.add(record(col + 100, 0, "no such collection")));
    EXPECT_FALSE(history.add(record(col, doc + 100, "no such document")));

    ASSERT_TRUE(
        s.database().exec(("DELETE FROM documents WHERE id = " + std::to_string(doc)).c_str()));
    auto rows = history.list({col, -1});
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ((*rows)[0].question, "about the collection");
    ASSERT_TRUE(
        s.database().exec(("DELETE FROM collections WHERE id = " + std::to_string(col)).c_str()));
    rows = history.list({col, -1});
    ASSERT_TRUE(rows);
    EXPECT_TRUE(rows->empty());
    EXPECT_EQ(*s.integrityCheck(), "ok");
}

TEST(AskHistory, VersionThreeStoreMigratesKeepingItsDataAndHistoryPersists) {
    ScratchDir dir;
    {
        Expected<Db> db = Db::open(storeDatabasePath(dir.path()), true);
        ASSERT_TRUE(db) << db.error();
        ASSERT_TRUE(migrate(*db, 3));
        ASSERT_TRUE(db->exec(
            "INSERT INTO collections(id, name, created_at) VALUES (1, 'old', 0);"
            "INSERT INTO contents(id, hash, kind, state, segment_count) "
            "VALUES (1, 'h', 'text', 'complete', 1);"
            "INSERT INTO documents(id, collection_id, path, content_id, status, ingested_at) "
            "VALUES (7, 1, '/old.txt', 1, 'ok', 0);"
            "INSERT INTO segments(content_id, seq, kind, ordinal, line_start, line_end, label, "
            "text) VALUES (1, 0, 1, 1, 1, 1, 'line 1', 'legacy indemnify clause');"
            "INSERT INTO model_states(kind, owner_id, document_id, model_id, token_count, "
            "state_path, created_at) VALUES ('document', 7, 7, 'm', 42, 'states/m/x', 5);"));
        EXPECT_EQ(*schemaVersion(*db), 3);
        EXPECT_FALSE(db->exec("SELECT question FROM ask_history"));
    }
    {
        auto store = Store::open(dir.path());
        ASSERT_TRUE(store) << store.error();
        Store& s = **store;
        EXPECT_EQ(*schemaVersion(s.database()), kSchemaVersion);
        EXPECT_EQ(searchPaths(s, "old", "indemnify"), std::vector<std::string>{"/old.txt"});
        Expected<Stmt> st = s.database().prepare("SELECT token_count FROM model_states");
        ASSERT_TRUE(st);
        ASSERT_TRUE(*st->step());
        EXPECT_EQ(st->columnInt(0), 42);
        AskRecord r = record(1, 7, "kept after restart?");
        r.passages = {{7, "/old.txt", "line 1", 0, 1, 1, "legacy [indemnify] clause"}};
        ASSERT_TRUE(AskHistory(s.database()).add(r));
    }
    auto store = Store::open(dir.path());  // a restart
    ASSERT_TRUE(store) << store.error();
    auto rows = AskHistory((*store)->database()).list({1, 7});
    ASSERT_TRUE(rows) << rows.error();
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ((*rows)[0].question, "kept after restart?");
    ASSERT_EQ((*rows)[0].passages.size(), 1u);
    EXPECT_EQ((*rows)[0].passages[0].lineStart, 1);
    EXPECT_EQ(*(*store)->integrityCheck(), "ok");
}
