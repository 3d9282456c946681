// The surprise map of a stored document: computed once per model, its mean equal to the
// engine's own scoring of the same tokens, stored spans readable by unit and rank, reused
// while the model is the same, and replaced (not mixed) when another model computes it.
#include <gtest/gtest.h>

#include <cmath>

#include "generate/generator.h"
#include "random_model.h"
#include "surprise_service.h"
#include "test_ask_store_util.h"

namespace lectern::services {
namespace {

using testing::page;

struct Fixture {
    testing::ScratchStore s;
    int64_t doc = 0;
    Expected<Model> load(uint64_t seed) {
        const std::string dir = (s.dir() / ("model" + std::to_string(seed))).string();
        if (Status st = test::writeRandomModel(dir, test::RandomModelSpec{}, seed); !st) return st;
        return Model::load(dir);
    }
};

SurpriseRequest request(int64_t documentId) {
    SurpriseRequest r;
    r.documentId = documentId;
    return r;
}

int64_t runCount(store::Db& db) {
    auto q = db.prepare("SELECT count(*) FROM surprise_runs");
    EXPECT_TRUE(q);
    EXPECT_TRUE(q->step());
    return q->columnInt(0);
}

TEST(SurpriseService, ComputesStoresReusesAndReplacesOnModelChange) {
    Fixture f;
    ASSERT_NE(f.s.store(), nullptr) << f.s.error();
    auto d = testing::putTestDocument(
        *f.s.store(), "case", "/memo.pdf", "pdf",
        {page(1, "The board met on Monday. It approved the budget."),
         page(2, "A purple elephant sang opera in the boardroom. Then the meeting ended.")});
    ASSERT_TRUE(d) << d.error();
    auto m1 = f.load(1);
    ASSERT_TRUE(m1) << m1.error();
    CacheOptions co;
    co.storeDir = f.s.storeDir();
    auto cache = StateCache::open(*m1, TextCodec{}, co);
    ASSERT_TRUE(cache) << cache.error();
    store::Db& db = f.s.store()->database();

    auto first = surpriseEnsure(**cache, db, request(*d));
    ASSERT_TRUE(first) << first.error();
    EXPECT_TRUE(first->computed);
    EXPECT_TRUE(first->hasPages);
    EXPECT_TRUE(first->prose);
    // The same numbers as the engine's scorer over the same tokens.
    auto text = (*cache)->text(StateKey::document(*d));
    ASSERT_TRUE(text) << text.error();
    auto scored = generate::score(*m1, (*text)->tokens);
    ASSERT_TRUE(scored) << scored.error();
    EXPECT_EQ(first->run.tokenCount, int64_t(scored->logprob.size()));
    const double mean = scored->totalBits / double(scored->logprob.size());
    EXPECT_NEAR(first->run.meanBits, mean, 1e-3 * mean);

    auto pages = surpriseSpans(db, first->run.id, SurpriseUnit::Page);
    ASSERT_TRUE(pages) << pages.error();
    ASSERT_EQ(pages->size(), 2u);
    EXPECT_EQ((*pages)[0].page, 1);
    EXPECT_EQ((*pages)[1].page, 2);
    EXPECT_EQ((*pages)[0].tokens + (*pages)[1].tokens, first->run.tokenCount);
    auto top = surpriseSpans(db, first->run.id, SurpriseUnit::Sentence, 2, 4);
    ASSERT_TRUE(top) << top.error();
    ASSERT_EQ(top->size(), 2u);
    EXPECT_GE((*top)[0].meanBits, (*top)[1].meanBits);
    auto lines = surpriseSpans(db, first->run.id, SurpriseUnit::Line);
    ASSERT_TRUE(lines) << lines.error();
    EXPECT_FALSE(lines->empty());

    auto again = surpriseEnsure(**cache, db, request(*d));
    ASSERT_TRUE(again) << again.error();
    EXPECT_FALSE(again->computed) << "the same model's map is reused";
    EXPECT_EQ(again->run.id, first->run.id);

    auto m2 = f.load(2);
    ASSERT_TRUE(m2) << m2.error();
    auto cache2 = StateCache::open(*m2, TextCodec{}, co);
    ASSERT_TRUE(cache2) << cache2.error();
    auto other = surpriseEnsure(**cache2, db, request(*d));
    ASSERT_TRUE(other) << other.error();
    EXPECT_TRUE(other->computed) << "another model recomputes";
    EXPECT_NE(other->run.modelId, first->run.modelId);
    EXPECT_EQ(runCount(db), 1) << "the old model's map was replaced";
    auto gone = surpriseFind(db, *d, first->run.modelId);
    ASSERT_TRUE(gone) << gone.error();
    EXPECT_FALSE(gone->has_value());
}

TEST(SurpriseService, UnknownDocumentIsAnError) {
    Fixture f;
    ASSERT_NE(f.s.store(), nullptr) << f.s.error();
    auto m = f.load(3);
    ASSERT_TRUE(m) << m.error();
    CacheOptions co;
    co.storeDir = f.s.storeDir();
    auto cache = StateCache::open(*m, TextCodec{}, co);
    ASSERT_TRUE(cache) << cache.error();
    auto r = surpriseEnsure(**cache, f.s.store()->database(), request(424242));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("424242"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace lectern::services
