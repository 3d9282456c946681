// The review table: every question of every document, each answer equal to asking that
// document alone; a document without text gets a row with its error; the CSV quotes what
// needs quoting and defuses spreadsheet formulas.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "random_model.h"
#include "review_service.h"
#include "test_ask_store_util.h"

namespace lectern::services {
namespace {

using testing::lines;
using testing::page;

TEST(ReviewCsv, QuotesEverythingAndDefusesFormulas) {
    ReviewTable t;
    t.collection = "c";
    t.questions = {"Who \"signed\"?"};
    ReviewRow r;
    r.documentId = 7;
    r.path = "/a,b.txt";
    AskAnswer a;
    a.answer = "=HYPERLINK(\"x\")\nsecond line";
    Passage p;
    p.path = "/a,b.txt";
    p.location = "page 2";
    p.snippet = "the [signed] copy";
    a.passages = {p};
    r.answers = {a};
    t.rows = {r};
    ReviewRow failed;
    failed.documentId = 8;
    failed.path = "/scan.pdf";
    failed.error = "no text (error: encrypted)";
    t.rows.push_back(failed);
    const std::string csv = reviewCsv(t);
    EXPECT_EQ(csv,
              "document_id,path,\"Q1 answer: Who \"\"signed\"\"?\",\"Q1 passages\",error\r\n"
              "7,\"/a,b.txt\",\"'=HYPERLINK(\"\"x\"\")\nsecond line\","
              "\"/a,b.txt (page 2): the [signed] copy\",\"\"\r\n"
              "8,\"/scan.pdf\",\"\",\"\",\"no text (error: encrypted)\"\r\n");
}

TEST(ReviewCsv, WritesAtomicallyAndNamesTheFileOnError) {
    ReviewTable t;
    t.questions = {"q"};
    const auto dir = std::filesystem::temp_directory_path() / "lectern-review-csv";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string file = (dir / "out.csv").string();
    ASSERT_TRUE(reviewCsvWrite(t, file));
    std::ifstream in(file);
    std::stringstream got;
    got << in.rdbuf();
    EXPECT_EQ(got.str(), reviewCsv(t));
    EXPECT_FALSE(std::filesystem::exists(file + ".tmp"));
    Status bad = reviewCsvWrite(t, (dir / "missing" / "out.csv").string());
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.message().find("missing/out.csv"), std::string::npos) << bad.message();
    std::filesystem::remove_all(dir);
}

TEST(Review, EveryDocumentFromItsOwnState) {
    testing::ScratchStore s;
    ASSERT_NE(s.store(), nullptr) << s.error();
    auto lease = testing::putTestDocument(
        *s.store(), "case", "/lease.pdf", "pdf",
        {page(1, "The lease runs five years."), page(2, "Notice is ninety days.")});
    ASSERT_TRUE(lease) << lease.error();
    auto code = testing::putTestDocument(*s.store(), "case", "/src/a.c", "source",
                                         {lines(1, 2, "int notice = 90;\nint years = 5;")});
    ASSERT_TRUE(code) << code.error();
    // A failed document: in the collection, without content.
    auto cid = s.store()->findCollection("case");
    ASSERT_TRUE(cid && *cid > 0);
    ASSERT_TRUE(s.store()->begin());
    store::DocumentWrite failed;
    failed.collectionId = *cid;
    failed.path = "/locked.pdf";
    failed.kind = "pdf";
    failed.status = "error";
    failed.error = "needs a password";
    ASSERT_TRUE(s.store()->putDocument(failed));
    ASSERT_TRUE(s.store()->commit());

    const std::string dir = (s.dir() / "model").string();
    ASSERT_TRUE(test::writeRandomModel(dir, test::RandomModelSpec{}, 9));
    auto model = Model::load(dir);
    ASSERT_TRUE(model) << model.error();
    CacheOptions co;
    co.storeDir = s.storeDir();
    auto cache = StateCache::open(*model, TextCodec{}, co);
    ASSERT_TRUE(cache) << cache.error();
    AskService ask(**cache, *s.store(), PromptFormat{});
    AskOptions o;
    o.maxTokens = 8;
    std::vector<std::string> seen;
    auto table = reviewRun(ask, *s.store(), {"case", {"How long?", "What notice?"}}, o,
                           [&](size_t, size_t count, const std::string& path) {
                               EXPECT_EQ(count, 3u);
                               seen.push_back(path);
                           });
    ASSERT_TRUE(table) << table.error();
    ASSERT_EQ(table->rows.size(), 3u);
    EXPECT_EQ(seen.size(), 3u);
    for (const ReviewRow& row : table->rows) {
        if (row.path == "/locked.pdf") {
            EXPECT_TRUE(row.answers.empty());
            EXPECT_NE(row.error.find("needs a password"), std::string::npos) << row.error;
            continue;
        }
        ASSERT_EQ(row.answers.size(), 2u) << row.path << ": " << row.error;
        for (size_t q = 0; q < 2; ++q) {
            AskRequest r;
            r.key = StateKey::document(row.documentId);
            r.collection = "case";
            r.documentId = row.documentId;
            r.questions = {table->questions[q]};
            auto alone = ask.ask(r, o);
            ASSERT_TRUE(alone) << alone.error();
            EXPECT_EQ((*alone)[0].answer, row.answers[q].answer) << row.path;
            EXPECT_EQ((*alone)[0].from, StateTier::Resident) << "the review left it cached";
            for (const Passage& p : row.answers[q].passages)
                EXPECT_EQ(p.documentId, row.documentId) << "passages stay in the document";
        }
    }
    auto bad = reviewRun(ask, *s.store(), {"case", {"ok", ""}}, o);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().find("question 2"), std::string::npos) << bad.error();
    auto unknown = reviewRun(ask, *s.store(), {"nope", {"ok"}}, o);
    EXPECT_FALSE(unknown);
}

}  // namespace
}  // namespace lectern::services
