// Store behaviour: search across scripts (TXT-3's search part), provenance and snippets,
// content stored once, atomic replacement, rollback, reports and integrity checks.
#include <gtest/gtest.h>

#include <algorithm>

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

namespace {

// Every token instance the FTS5 index holds: (term, rowid, offset), in index order.
std::vector<std::string> indexedInstances(Store& store) {
    EXPECT_TRUE(store.database().exec(
        "CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, segments_fts, instance)"));
    Expected<Stmt> stmt = store.database().prepare("SELECT term, doc, offset FROM temp.vocab");
    std::vector<std::string> out;
    if (!stmt) return {"error: " + stmt.error()};
    for (Expected<bool> row = stmt->step(); row && *row; row = stmt->step()) {
        out.push_back(stmt->columnText(0) + "@" + std::to_string(stmt->columnInt(1)) + ":" +
                      std::to_string(stmt->columnInt(2)));
    }
    return out;
}

// Writes `texts` as one document's segments; with `pretokenized`, each segment's FTS5
// tokens are computed beforehand (as the pipeline's extraction threads do), and the
// segment at `wrongIndex` gets the tokens of a different text of the same length.
Status writePretokenized(Store& store, int64_t collectionId, const std::vector<std::string>& texts,
                         bool pretokenized, size_t wrongIndex) {
    TextTokenizer tokenizer;
    if (Status s = store.begin(); !s) return s;
    Expected<int64_t> content = store.createPendingContent("hash", "text");
    if (!content) return content.status();
    for (size_t i = 0; i < texts.size(); ++i) {
        ingest::Segment segment;
        segment.ordinal = segment.lineStart = segment.lineEnd = int64_t(i + 1);
        segment.text = texts[i];
        std::string tokenSource = texts[i];
        if (i == wrongIndex) std::reverse(tokenSource.begin(), tokenSource.end());
        const PretokenizedText tokens = pretokenize(tokenizer, tokenSource);
        Status s =
            store.appendSegment(*content, int64_t(i), segment, pretokenized ? &tokens : nullptr);
        if (!s) return s;
    }
    Expected<int64_t> done = store.completeContent(*content, int64_t(texts.size()), 0);
    if (!done) return done.status();
    DocumentWrite doc;
    doc.collectionId = collectionId;
    doc.path = "/doc.txt";
    doc.kind = "text";
    doc.hash = "hash";
    doc.contentId = *done;
    if (Status s = store.putDocument(doc); !s) return s;
    return store.commit();
}

}  // namespace

// The writer replays tokens computed on an extraction thread; the index must be exactly
// the one the tokenizer itself would build (same terms at the same offsets), and a token
// stream that does not belong to the text is ignored rather than indexed.
TEST(StorePretokenized, IndexesExactlyWhatTheTokenizerWould) {
    std::string longText;
    for (int i = 0; i < 20000; ++i) longText += "Wörd" + std::to_string(i % 7) + " 東京 ";
    const std::vector<std::string> texts = {
        "connection TIMEOUT after 30 s", "the cafe\xCC\x81 opens",  "本契約は東京都の裁判所",
        "abc xyz reversed stream",       "يجوز إنهاء العقد بإشعار", longText};
    std::vector<std::string> expected;
    for (const bool pretokenized : {false, true}) {
        ScratchDir dir;
        Expected<std::unique_ptr<Store>> store = Store::open(dir.path() / "store");
        ASSERT_TRUE(store) << store.error();
        Expected<int64_t> collection = (*store)->ensureCollection("case");
        ASSERT_TRUE(collection) << collection.error();
        ASSERT_TRUE(writePretokenized(**store, *collection, texts, pretokenized, 3));
        const std::vector<std::string> instances = indexedInstances(**store);
        EXPECT_GT(instances.size(), 40000u);
        if (!pretokenized) {
            expected = instances;
            continue;
        }
        EXPECT_EQ(instances, expected);
        EXPECT_EQ(searchPaths(**store, "case", "café"), (Paths{"/doc.txt"}));
        EXPECT_EQ(searchPaths(**store, "case", "東京"), (Paths{"/doc.txt", "/doc.txt"}));
        EXPECT_EQ(searchPaths(**store, "case", "reversed"), (Paths{"/doc.txt"}));
        Expected<std::string> integrity = (*store)->integrityCheck();
        ASSERT_TRUE(integrity) << integrity.error();
        EXPECT_EQ(*integrity, "ok");
    }
}
