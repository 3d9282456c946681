// Store behaviour: search across scripts (TXT-3's search part), provenance and snippets,
// content stored once, atomic replacement, rollback, reports and integrity checks.
#include <gtest/gtest.h>

#include "store_test_util.h"

using namespace lectern;
using namespace lectern::store;
using namespace lectern::store::testing;
using Paths = std::vector<std::string>;

namespace {

int64_t scalar(Store& store, const char* sql) {
    Expected<Stmt> stmt = store.database().prepare(sql);
    if (!stmt || !stmt->step().value()) return -1;
    return stmt->columnInt(0);
}

class StoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        Expected<std::unique_ptr<Store>> opened = Store::open(dir.path() / "store");
        ASSERT_TRUE(opened) << opened.error();
        store = std::move(*opened);
        Expected<int64_t> id = store->ensureCollection("case");
        ASSERT_TRUE(id) << id.error();
        collection = *id;
    }
    ScratchDir dir;
    std::unique_ptr<Store> store;
    int64_t collection = 0;
};

}  // namespace

TEST_F(StoreTest, DiacriticsMatchBothWays) {
    ASSERT_TRUE(writeDocument(*store, collection, "/nfd.txt", {"the cafe\xCC\x81 opens"}));
    ASSERT_TRUE(writeDocument(*store, collection, "/plain.txt", {"a plain cafe"}));
    EXPECT_EQ(searchPaths(*store, "case", "café").size(), 2u);
    EXPECT_EQ(searchPaths(*store, "case", "cafe").size(), 2u);
    EXPECT_EQ(searchPaths(*store, "case", "CAFÉ").size(), 2u);
}

TEST_F(StoreTest, FindsTwoCharacterCjkWordAndArabic) {
    ASSERT_TRUE(
        writeDocument(*store, collection, "/ja.txt", {"本契約は東京都の裁判所を管轄とする"}));
    ASSERT_TRUE(writeDocument(*store, collection, "/zh.txt", {"合同终止后双方不再承担责任"}));
    ASSERT_TRUE(writeDocument(*store, collection, "/ar.txt", {"يجوز إنهاء العقد بإشعار كتابي"}));
    EXPECT_EQ(searchPaths(*store, "case", "契約"), (Paths{"/ja.txt"}));
    EXPECT_EQ(searchPaths(*store, "case", "東京"), (Paths{"/ja.txt"}));
    EXPECT_EQ(searchPaths(*store, "case", "终止"), (Paths{"/zh.txt"}));
    EXPECT_EQ(searchPaths(*store, "case", "العقد"), (Paths{"/ar.txt"}));
    EXPECT_TRUE(searchPaths(*store, "case", "京東").empty());  // characters must be adjacent
}

TEST_F(StoreTest, SearchGivesProvenanceAndHighlightedSnippet) {
    ASSERT_TRUE(writeDocument(*store, collection, "/log.txt",
                              {"start", "connection timeout after 30 s", "stop"}));
    SearchRequest request{"case", "timeout", 5, "<<", ">>"};
    Expected<std::vector<SearchHit>> hits = store->search(request);
    ASSERT_TRUE(hits) << hits.error();
    ASSERT_EQ(hits->size(), 1u);
    const SearchHit& hit = hits->front();
    EXPECT_EQ(hit.path, "/log.txt");
    EXPECT_EQ(hit.lineStart, 2);
    EXPECT_EQ(hit.lineEnd, 2);
    EXPECT_EQ(hit.label, "line 2");
    EXPECT_NE(hit.snippet.find("<<timeout>>"), std::string::npos) << hit.snippet;
}

TEST_F(StoreTest, QueriesWithPunctuationNeverFail) {
    ASSERT_TRUE(writeDocument(*store, collection, "/a.txt", {"foo-bar said \"hi\" AND NEAR"}));
    for (const char* q : {"foo-bar", "\"said hi", "AND", "NEAR(", "hi)", "fo*", "a\"b\"c"}) {
        SearchRequest request{"case", q, 5};
        EXPECT_TRUE(store->search(request)) << q;
    }
    EXPECT_EQ(searchPaths(*store, "case", "fo*"), (Paths{"/a.txt"}));
    EXPECT_EQ(searchPaths(*store, "case", "\"bar said\""), (Paths{"/a.txt"}));
    EXPECT_TRUE(searchPaths(*store, "case", "\"said bar\"").empty());
    SearchRequest onlyPunctuation{"case", "-- ()", 5};
    EXPECT_FALSE(store->search(onlyPunctuation));
    EXPECT_EQ(toFtsQuery("x y*"), "\"x\" \"y\"*");
}

TEST_F(StoreTest, IdenticalContentIsStoredOnce) {
    ASSERT_TRUE(writeDocument(*store, collection, "/one.txt", {"same words"}));
    ASSERT_TRUE(writeDocument(*store, collection, "/two.txt", {"same words"}));
    EXPECT_EQ(scalar(*store, "SELECT count(*) FROM contents"), 1);
    EXPECT_EQ(scalar(*store, "SELECT count(*) FROM segments"), 1);
    EXPECT_EQ(searchPaths(*store, "case", "same").size(), 2u);
    EXPECT_EQ(*store->integrityCheck(), "ok");
}

TEST_F(StoreTest, ReplacingADocumentDropsItsOldContent) {
    ASSERT_TRUE(writeDocument(*store, collection, "/doc.txt", {"old text"}));
    ASSERT_TRUE(writeDocument(*store, collection, "/doc.txt", {"new text", "more"}));
    EXPECT_TRUE(searchPaths(*store, "case", "old").empty());
    EXPECT_EQ(searchPaths(*store, "case", "new"), (Paths{"/doc.txt"}));
    EXPECT_EQ(scalar(*store, "SELECT count(*) FROM contents"), 1);
    EXPECT_EQ(scalar(*store, "SELECT count(*) FROM segments"), 2);
    EXPECT_EQ(scalar(*store, "SELECT count(*) FROM documents"), 1);
    EXPECT_EQ(*store->integrityCheck(), "ok");
}

TEST_F(StoreTest, RolledBackWritesLeaveNoTrace) {
    ASSERT_TRUE(writeDocument(*store, collection, "/keep.txt", {"kept"}));
    ASSERT_TRUE(store->begin());
    Expected<int64_t> content = store->createPendingContent("h", "text");
    ASSERT_TRUE(content);
    ingest::Segment segment;
    segment.text = "vanishing words";
    ASSERT_TRUE(store->appendSegment(*content, 0, segment));
    store->rollback();
    EXPECT_TRUE(searchPaths(*store, "case", "vanishing").empty());
    EXPECT_EQ(scalar(*store, "SELECT count(*) FROM contents"), 1);
    EXPECT_EQ(*store->integrityCheck(), "ok");
}

TEST_F(StoreTest, GarbageCollectionRemovesPendingLeftovers) {
    ASSERT_TRUE(store->begin());
    Expected<int64_t> content = store->createPendingContent("h", "text");
    ingest::Segment segment;
    segment.text = "half written";
    ASSERT_TRUE(store->appendSegment(*content, 0, segment));
    ASSERT_TRUE(store->commit());  // as a streamed document does before it completes
    ASSERT_TRUE(store->collectGarbage());
    EXPECT_EQ(scalar(*store, "SELECT count(*) FROM segments"), 0);
    EXPECT_EQ(*store->integrityCheck(), "ok");
}

TEST_F(StoreTest, ReportCountsStatusesAndListsFailures) {
    ASSERT_TRUE(writeDocument(*store, collection, "/good.txt", {"fine"}));
    DocumentWrite bad;
    bad.collectionId = collection;
    bad.path = "/bad.pdf";
    bad.status = "needs-password";
    bad.error = "/bad.pdf: encrypted; pass --password";
    ASSERT_TRUE(store->begin());
    ASSERT_TRUE(store->putDocument(bad));
    ASSERT_TRUE(store->commit());
    Expected<std::vector<CollectionReport>> reports = store->report("case");
    ASSERT_TRUE(reports) << reports.error();
    ASSERT_EQ(reports->size(), 1u);
    const CollectionReport& r = reports->front();
    EXPECT_EQ(r.documents, 2);
    EXPECT_EQ(r.byStatus.at("ok"), 1);
    EXPECT_EQ(r.byStatus.at("needs-password"), 1);
    ASSERT_EQ(r.issues.size(), 1u);
    EXPECT_EQ(r.issues[0].path, "/bad.pdf");
    EXPECT_EQ(r.issues[0].error, bad.error);
}

TEST_F(StoreTest, RemovedDocumentsLeaveSearch) {
    ASSERT_TRUE(writeDocument(*store, collection, "/gone.txt", {"ephemeral"}));
    Expected<std::map<std::string, KnownDocument>> known = store->knownDocuments(collection);
    ASSERT_TRUE(known);
    ASSERT_TRUE(store->begin());
    ASSERT_TRUE(store->markRemoved(known->at("/gone.txt").id));
    ASSERT_TRUE(store->commit());
    EXPECT_TRUE(searchPaths(*store, "case", "ephemeral").empty());
    EXPECT_EQ(scalar(*store, "SELECT count(*) FROM segments"), 0);
    EXPECT_EQ(*store->integrityCheck(), "ok");
}

TEST_F(StoreTest, UnknownCollectionIsAClearError) {
    SearchRequest request{"nope", "x", 5};
    Expected<std::vector<SearchHit>> hits = store->search(request);
    ASSERT_FALSE(hits);
    EXPECT_NE(hits.error().find("nope"), std::string::npos);
}

TEST_F(StoreTest, EqualScoresAreOrderedByPathWithinTheLimit) {
    for (const char* path : {"/c.txt", "/a.txt", "/d.txt", "/b.txt"}) {
        ASSERT_TRUE(writeDocument(*store, collection, path, {"same clause"}));
    }
    SearchRequest request{"case", "clause", 2};
    Expected<std::vector<SearchHit>> hits = store->search(request);
    ASSERT_TRUE(hits) << hits.error();
    ASSERT_EQ(hits->size(), 2u);
    EXPECT_EQ((*hits)[0].path, "/a.txt");
    EXPECT_EQ((*hits)[1].path, "/b.txt");
    request.limit = 0;
    hits = store->search(request);
    ASSERT_TRUE(hits) << hits.error();
    EXPECT_TRUE(hits->empty());
}

TEST_F(StoreTest, BetterPassagesOfAnotherCollectionDoNotCrowdOutThisOne) {
    Expected<int64_t> other = store->ensureCollection("other");
    ASSERT_TRUE(other);
    ASSERT_TRUE(writeDocument(*store, *other, "/strong.txt", {"needle needle needle"}));
    ASSERT_TRUE(writeDocument(*store, collection, "/weak.txt",
                              {"a needle in a long line of many other words here"}));
    EXPECT_EQ(searchPaths(*store, "case", "needle"), (Paths{"/weak.txt"}));
    EXPECT_EQ(searchPaths(*store, "other", "needle"), (Paths{"/strong.txt"}));
}

TEST_F(StoreTest, SmallCollectionAfterALargeOneIsStillFound) {
    // More matching passages than one ranking window (10,000), all in another collection
    // and older than this collection's one match.
    Expected<int64_t> other = store->ensureCollection("big");
    ASSERT_TRUE(other);
    const std::vector<std::string> lines(10050, "the buffer overflows");
    ASSERT_TRUE(writeDocument(*store, *other, "/big.log", lines));
    ASSERT_TRUE(writeDocument(*store, collection, "/small.txt", {"one buffer here"}));
    EXPECT_EQ(searchPaths(*store, "case", "buffer"), (Paths{"/small.txt"}));
    SearchRequest request{"big", "buffer", 3};
    Expected<std::vector<SearchHit>> hits = store->search(request);
    ASSERT_TRUE(hits) << hits.error();
    EXPECT_EQ(hits->size(), 3u);
}
