// The store's read API: listing a collection's documents, one document by id, its segments
// in reading order, and search restricted to one document.
#include <gtest/gtest.h>

#include <algorithm>

#include "store_test_util.h"

using namespace lectern;
using namespace lectern::store;
using namespace lectern::store::testing;

namespace {

class StoreReadTest : public ::testing::Test {
protected:
    void SetUp() override {
        Expected<std::unique_ptr<Store>> opened = Store::open(dir.path() / "store");
        ASSERT_TRUE(opened) << opened.error();
        store = std::move(*opened);
        Expected<int64_t> id = store->ensureCollection("case");
        ASSERT_TRUE(id) << id.error();
        collection = *id;
    }

    int64_t idOf(const std::string& path, int64_t collectionId = 0) {
        Expected<std::map<std::string, KnownDocument>> known =
            store->knownDocuments(collectionId ? collectionId : collection);
        if (!known || !known->count(path)) return -1;
        return known->at(path).id;
    }

    std::vector<int64_t> hitDocuments(const SearchRequest& request) {
        Expected<std::vector<SearchHit>> hits = store->search(request);
        EXPECT_TRUE(hits) << hits.error();
        std::vector<int64_t> ids;
        if (hits) {
            for (const SearchHit& hit : *hits) ids.push_back(hit.documentId);
        }
        return ids;
    }

    ScratchDir dir;
    std::unique_ptr<Store> store;
    int64_t collection = 0;
};

}  // namespace

TEST_F(StoreReadTest, ListsDocumentsByPathWithoutRemovedOnes) {
    ASSERT_TRUE(writeDocument(*store, collection, "/b.txt", {"beta", "two"}));
    ASSERT_TRUE(writeDocument(*store, collection, "/a.txt", {"alpha"}));
    ASSERT_TRUE(writeDocument(*store, collection, "/gone.txt", {"gone"}));
    ASSERT_TRUE(store->begin());
    ASSERT_TRUE(store->markRemoved(idOf("/gone.txt")));
    ASSERT_TRUE(store->commit());

    Expected<std::vector<DocumentInfo>> docs = store->listDocuments("case");
    ASSERT_TRUE(docs) << docs.error();
    ASSERT_EQ(docs->size(), 2u);
    EXPECT_EQ((*docs)[0].path, "/a.txt");
    EXPECT_EQ((*docs)[1].path, "/b.txt");
    const DocumentInfo& b = (*docs)[1];
    EXPECT_EQ(b.id, idOf("/b.txt"));
    EXPECT_EQ(b.collectionId, collection);
    EXPECT_EQ(b.collection, "case");
    EXPECT_EQ(b.kind, "text");
    EXPECT_EQ(b.status, "ok");
    EXPECT_EQ(b.segmentCount, 2);
    EXPECT_FALSE(b.hash.empty());
    EXPECT_EQ(b.metaJson, "{}");
}

TEST_F(StoreReadTest, ListingAnUnknownCollectionNamesIt) {
    Expected<std::vector<DocumentInfo>> docs = store->listDocuments("nope");
    ASSERT_FALSE(docs);
    EXPECT_NE(docs.error().find("'nope'"), std::string::npos) << docs.error();
}

TEST_F(StoreReadTest, DocumentByIdCarriesEveryField) {
    DocumentWrite bad;
    bad.collectionId = collection;
    bad.path = "/locked.pdf";
    bad.kind = "pdf";
    bad.size = 1234;
    bad.mtimeNs = 99;
    bad.hash = "abc";
    bad.status = "needs-password";
    bad.error = "/locked.pdf: encrypted; pass --password";
    bad.pageCount = 7;
    bad.metaJson = R"({"title":"T"})";
    ASSERT_TRUE(store->begin());
    ASSERT_TRUE(store->putDocument(bad));
    ASSERT_TRUE(store->commit());

    Expected<DocumentInfo> doc = store->documentById(idOf("/locked.pdf"));
    ASSERT_TRUE(doc) << doc.error();
    EXPECT_EQ(doc->path, "/locked.pdf");
    EXPECT_EQ(doc->kind, "pdf");
    EXPECT_EQ(doc->size, 1234);
    EXPECT_EQ(doc->mtimeNs, 99);
    EXPECT_EQ(doc->hash, "abc");
    EXPECT_EQ(doc->status, "needs-password");
    EXPECT_EQ(doc->error, bad.error);
    EXPECT_EQ(doc->pageCount, 7);
    EXPECT_EQ(doc->metaJson, bad.metaJson);
    EXPECT_EQ(doc->segmentCount, 0);
    EXPECT_EQ(doc->contentId, 0);

    Expected<std::vector<ingest::Segment>> segments = store->documentSegments(doc->id);
    ASSERT_TRUE(segments) << segments.error();
    EXPECT_TRUE(segments->empty());
}

TEST_F(StoreReadTest, MissingAndRemovedDocumentsAreErrors) {
    Expected<DocumentInfo> missing = store->documentById(4242);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().rfind("no document 4242", 0), 0u) << missing.error();
    EXPECT_FALSE(store->documentSegments(4242));

    ASSERT_TRUE(writeDocument(*store, collection, "/gone.txt", {"gone"}));
    const int64_t id = idOf("/gone.txt");
    ASSERT_TRUE(store->begin());
    ASSERT_TRUE(store->markRemoved(id));
    ASSERT_TRUE(store->commit());
    Expected<DocumentInfo> removed = store->documentById(id);
    ASSERT_FALSE(removed);
    EXPECT_EQ(removed.error().rfind("no document " + std::to_string(id), 0), 0u);
    EXPECT_NE(removed.error().find("/gone.txt"), std::string::npos) << removed.error();
}

TEST_F(StoreReadTest, SegmentsComeInReadingOrderWithProvenance) {
    // Another document first, so this one's segment ids do not start at 1.
    ASSERT_TRUE(writeDocument(*store, collection, "/other.txt", {"x", "y"}));
    ASSERT_TRUE(writeDocument(*store, collection, "/doc.txt", {"first", "second", "third"}));
    Expected<std::vector<ingest::Segment>> segments = store->documentSegments(idOf("/doc.txt"));
    ASSERT_TRUE(segments) << segments.error();
    ASSERT_EQ(segments->size(), 3u);
    const char* texts[] = {"first", "second", "third"};
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ((*segments)[i].text, texts[i]);
        EXPECT_EQ((*segments)[i].lineStart, int64_t(i + 1));
        EXPECT_EQ((*segments)[i].label, "line " + std::to_string(i + 1));
        EXPECT_EQ((*segments)[i].kind, ingest::SegmentKind::Lines);
    }
}

TEST_F(StoreReadTest, SearchHitsNameTheirDocument) {
    ASSERT_TRUE(writeDocument(*store, collection, "/a.txt", {"needle here"}));
    ASSERT_TRUE(writeDocument(*store, collection, "/b.txt", {"another needle"}));
    SearchRequest request{"case", "needle", 10};
    std::vector<int64_t> ids = hitDocuments(request);
    std::sort(ids.begin(), ids.end());
    std::vector<int64_t> expected{idOf("/a.txt"), idOf("/b.txt")};
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(ids, expected);
}

TEST_F(StoreReadTest, SearchInsideOneDocument) {
    ASSERT_TRUE(writeDocument(*store, collection, "/a.txt", {"needle one", "hay", "needle two"}));
    ASSERT_TRUE(writeDocument(*store, collection, "/b.txt", {"needle three"}));
    ASSERT_TRUE(writeDocument(*store, collection, "/c.txt", {"needle four"}));
    const int64_t b = idOf("/b.txt");

    SearchRequest request{"", "needle", 10};
    request.documentId = b;  // no collection needed with a document
    EXPECT_EQ(hitDocuments(request), std::vector<int64_t>{b});
    request.collection = "case";
    EXPECT_EQ(hitDocuments(request), std::vector<int64_t>{b});

    request.documentId = idOf("/a.txt");
    Expected<std::vector<SearchHit>> hits = store->search(request);
    ASSERT_TRUE(hits) << hits.error();
    ASSERT_EQ(hits->size(), 2u);
    for (const SearchHit& hit : *hits) EXPECT_EQ(hit.path, "/a.txt");

    request.query = "hay";
    request.documentId = b;
    EXPECT_TRUE(hitDocuments(request).empty());
}

TEST_F(StoreReadTest, SearchInsideADocumentSharingItsContent) {
    // Identical files share one content; a search in either names the one asked for.
    ASSERT_TRUE(writeDocument(*store, collection, "/one.txt", {"same words"}));
    ASSERT_TRUE(writeDocument(*store, collection, "/two.txt", {"same words"}));
    SearchRequest request{"case", "same", 10};
    request.documentId = idOf("/two.txt");
    EXPECT_EQ(hitDocuments(request), std::vector<int64_t>{request.documentId});
}

TEST_F(StoreReadTest, SearchInADocumentOfAnotherCollectionIsAnError) {
    Expected<int64_t> other = store->ensureCollection("other");
    ASSERT_TRUE(other);
    ASSERT_TRUE(writeDocument(*store, *other, "/x.txt", {"needle"}));
    SearchRequest request{"case", "needle", 10};
    request.documentId = idOf("/x.txt", *other);
    Expected<std::vector<SearchHit>> hits = store->search(request);
    ASSERT_FALSE(hits);
    EXPECT_NE(hits.error().find("'case'"), std::string::npos) << hits.error();

    request.documentId = 777;
    hits = store->search(request);
    ASSERT_FALSE(hits);
    EXPECT_EQ(hits.error().rfind("no document 777", 0), 0u) << hits.error();
}
