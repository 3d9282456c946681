// Supporting passages from a real store: salient words of the question and the answer,
// searched inside the document when one is named, ranked by how many of the words a
// passage holds, with page or line locations.
#include <gtest/gtest.h>

#include "passages.h"
#include "test_ask_store_util.h"

namespace lectern::services {
namespace {

using testing::lines;
using testing::page;

TEST(SalientWords, DropsStopWordsShortWordsAndRepeats) {
    EXPECT_EQ(salientWords("What is the notice period for termination? Termination, notice!"),
              (std::vector<std::string>{"notice", "period", "termination"}));
    EXPECT_EQ(salientWords("Wer darf kündigen?"),
              (std::vector<std::string>{"wer", "darf", "kündigen"}));
    EXPECT_TRUE(salientWords("is it? a an of").empty());
    EXPECT_EQ(salientWords("one two three four five six seven eight nine ten", 3).size(), 3u);
}

class PassagesTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_NE(s.store(), nullptr) << s.error();
        auto a = testing::putTestDocument(
            *s.store(), "case", "/lease.pdf", "pdf",
            {page(1, "This lease runs for five years from signing."),
             page(2, "Either party may terminate with ninety days notice in writing."),
             page(3, "Termination for cause needs no notice period.")});
        ASSERT_TRUE(a) << a.error();
        lease = *a;
        auto b = testing::putTestDocument(
            *s.store(), "case", "/src/notice.c", "source",
            {lines(1, 3, "int notice_days = 90;"), lines(4, 9, "void terminate(void) {}")});
        ASSERT_TRUE(b) << b.error();
        code = *b;
    }
    testing::ScratchStore s;
    int64_t lease = 0, code = 0;
};

TEST_F(PassagesTest, StaysInsideTheDocumentAndRanksByWordsHeld) {
    PassageRequest r;
    r.collection = "case";
    r.documentId = lease;
    r.question = "How much notice is needed to terminate?";
    r.answer = "ninety days";
    auto p = passagesFind(*s.store(), r);
    ASSERT_TRUE(p) << p.error();
    ASSERT_FALSE(p->empty());
    for (const Passage& x : *p) EXPECT_EQ(x.documentId, lease) << x.path;
    // Page 2 holds notice, terminate, ninety and days; page 3 only notice.
    EXPECT_EQ((*p)[0].page, 2);
    EXPECT_EQ((*p)[0].location, "page 2");
    EXPECT_GE((*p)[0].matched.size(), 3u);
    EXPECT_NE((*p)[0].snippet.find('['), std::string::npos) << (*p)[0].snippet;
}

TEST_F(PassagesTest, CollectionWideFindsCodeWithLineRanges) {
    PassageRequest r;
    r.collection = "case";
    r.question = "notice_days";
    auto p = passagesFind(*s.store(), r);
    ASSERT_TRUE(p) << p.error();
    ASSERT_EQ(p->size(), 1u);
    EXPECT_EQ((*p)[0].documentId, code);
    EXPECT_EQ((*p)[0].location, "lines 1-3");
}

TEST_F(PassagesTest, NoWordsNoPassagesAndLimitsHold) {
    PassageRequest r;
    r.collection = "case";
    r.question = "is it?";
    auto none = passagesFind(*s.store(), r);
    ASSERT_TRUE(none) << none.error();
    EXPECT_TRUE(none->empty());
    r.question = "notice terminate lease";
    r.limit = 1;
    auto one = passagesFind(*s.store(), r);
    ASSERT_TRUE(one) << one.error();
    EXPECT_EQ(one->size(), 1u);
}

TEST_F(PassagesTest, AsOfPageKeepsOnlyPagesReadSoFar) {
    PassageRequest r;
    r.collection = "case";
    r.documentId = lease;
    r.question = "notice termination";  // pages 2 and 3 hold these words
    auto all = passagesFind(*s.store(), r);
    ASSERT_TRUE(all) << all.error();
    ASSERT_EQ(all->size(), 2u);
    r.maxPage = 2;
    auto asOf = passagesFind(*s.store(), r);
    ASSERT_TRUE(asOf) << asOf.error();
    ASSERT_EQ(asOf->size(), 1u);
    EXPECT_EQ((*asOf)[0].page, 2);
    r.maxPage = 1;
    auto none = passagesFind(*s.store(), r);
    ASSERT_TRUE(none) << none.error();
    EXPECT_TRUE(none->empty());
    // Collection-wide with a page limit: the code's line ranges have no page, so none.
    r.documentId = 0;
    r.maxPage = 3;
    r.question = "notice_days notice";
    auto wide = passagesFind(*s.store(), r);
    ASSERT_TRUE(wide) << wide.error();
    for (const Passage& x : *wide) EXPECT_LE(x.page, 3) << x.path;
    for (const Passage& x : *wide) EXPECT_EQ(x.documentId, lease) << x.path;
}

TEST_F(PassagesTest, UnsearchableAnswerWordsAreSkipped) {
    PassageRequest r;
    r.collection = "case";
    r.documentId = lease;
    r.question = "terminate";
    r.answer = "\xff\xfe\xc3 \xe2\x80\xa0\xe2\x80\xa0\xe2\x80\xa0";  // broken UTF-8, symbols
    auto p = passagesFind(*s.store(), r);
    ASSERT_TRUE(p) << p.error();
    ASSERT_FALSE(p->empty());
    EXPECT_EQ((*p)[0].page, 2);
}

TEST_F(PassagesTest, UnknownCollectionIsAnError) {
    PassageRequest r;
    r.collection = "nope";
    r.question = "notice";
    auto p = passagesFind(*s.store(), r);
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().find("nope"), std::string::npos) << p.error();
}

}  // namespace
}  // namespace lectern::services
