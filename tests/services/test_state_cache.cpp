// The state cache on a real store and a random small model (CPU): tiers (rebuilt →
// resident → disk, bit-identical), append and change resume equal to a full re-read
// within tolerance (RELIABILITY NUM-3), "as of page N", cancel keeps a partial state,
// another model's or a damaged state refused and rebuilt (STATE-1), budgets (MEM-2),
// collection streams, and garbage collection.
#include <gtest/gtest.h>

#include <fstream>

#include "services_test_util.h"

using namespace lectern;
using namespace lectern::services;
using namespace lectern::services::testing;
namespace fs = std::filesystem;

namespace {

constexpr double kTolerance = 1e-4;  // chunked scan split at other points: fp32 rounding only

class StateCacheTest : public ::testing::Test {
protected:
    std::unique_ptr<StateCache> open(CacheOptions options = {}, const Model* m = nullptr) {
        options.storeDir = st.dir;
        auto cache = StateCache::open(m ? *m : *model.model, TextCodec(), options);
        EXPECT_TRUE(cache) << cache.error();
        return cache ? std::move(*cache) : nullptr;
    }
    // The reference: one whole prefill of the source's current text.
    Session fullRead(StateCache& cache, const StateKey& key, int64_t upTo = -1) {
        auto text = cache.text(key);
        EXPECT_TRUE(text) << text.error();
        Session s = cache.model().newSession();
        const auto& tokens = (*text)->tokens;
        const size_t n = upTo < 0 ? tokens.size() : size_t(upTo);
        EXPECT_TRUE(s.prefill(std::span<const int32_t>(tokens.data(), n)));
        return s;
    }
    StateResult get(StateCache& cache, StateRequest request) {
        auto r = cache.get(request);
        EXPECT_TRUE(r) << r.error();
        if (!r) throw std::runtime_error(r.error());
        return std::move(*r);
    }
    StateResult get(StateCache& cache, const StateKey& key) {
        StateRequest request;
        request.key = key;
        return get(cache, request);
    }
    int64_t write(const std::string& path, const std::vector<std::string>& segs,
                  bool pages = true) {
        auto id = writeDocument(*st.store, st.collection, path, segs, pages);
        EXPECT_TRUE(id) << id.error();
        return id ? *id : 0;
    }
    std::vector<store::StateRow> rows(const StateKey& key, const std::string& modelId) {
        store::StateIndex index(st.store->database());
        auto r = index.forOwner(key.owner, key.id, modelId);
        EXPECT_TRUE(r) << r.error();
        return r ? *r : std::vector<store::StateRow>{};
    }

    ScratchStore st;
    TestModel model;
};

}  // namespace

TEST_F(StateCacheTest, TiersRebuiltResidentDiskBitIdentical) {
    const auto key = StateKey::document(write("/a.pdf", samplePages(1, 4, 500)));
    auto cache = open();
    StateResult first = get(*cache, key);
    EXPECT_EQ(first.from, StateTier::Rebuilt);
    EXPECT_EQ(first.resumedAt, 0);
    EXPECT_GT(first.prefilled, 1500);
    EXPECT_LT(stateError(first.session, fullRead(*cache, key)), kTolerance);

    StateResult again = get(*cache, key);
    EXPECT_EQ(again.from, StateTier::Resident);
    EXPECT_EQ(again.prefilled, 0);
    EXPECT_EQ(again.text, nullptr);  // an unchanged source is never re-tokenized
    EXPECT_TRUE(bitIdentical(again.session, first.session));

    cache->dropMemory();
    StateResult disk = get(*cache, key);
    EXPECT_EQ(disk.from, StateTier::Disk);
    EXPECT_TRUE(bitIdentical(disk.session, first.session));

    // A new process (a new cache) finds it on disk too.
    cache.reset();
    auto reopened = open();
    StateResult restored = get(*reopened, key);
    EXPECT_EQ(restored.from, StateTier::Disk);
    EXPECT_TRUE(bitIdentical(restored.session, first.session));
    EXPECT_EQ(*st.store->integrityCheck(), "ok");
}

TEST_F(StateCacheTest, ForkIsIndependentOfTheCachedState) {
    const auto key = StateKey::document(write("/a.pdf", samplePages(2, 2, 300)));
    auto cache = open();
    StateResult a = get(*cache, key);
    const int32_t question[] = {'Q', '?'};
    ASSERT_TRUE(a.session.prefill(question));
    StateResult b = get(*cache, key);
    EXPECT_EQ(b.session.position(), a.session.position() - 2);
}

TEST_F(StateCacheTest, AppendContinuesAndEqualsFullReRead) {
    std::vector<std::string> pages = samplePages(3, 5, 400);
    const auto key = StateKey::document(write("/grow.pdf", pages));
    auto cache = open();
    const StateResult before = get(*cache, key);
    for (const std::string& p : samplePages(4, 2, 400)) pages.push_back(p);
    ASSERT_EQ(write("/grow.pdf", pages), key.id);  // same path: same document, grown
    StateResult after = get(*cache, key);
    EXPECT_EQ(after.from, StateTier::Resident);
    EXPECT_EQ(after.resumedAt, before.session.position());
    EXPECT_EQ(after.resumedAt + after.prefilled, after.session.position());
    EXPECT_LT(stateError(after.session, fullRead(*cache, key)), kTolerance);

    // From disk as well (a restart between the two versions).
    pages.push_back(sampleText(99, 300));
    write("/grow.pdf", pages);
    cache->dropMemory();
    StateResult third = get(*cache, key);
    EXPECT_EQ(third.from, StateTier::Disk);
    EXPECT_EQ(third.resumedAt, after.session.position());
    EXPECT_LT(stateError(third.session, fullRead(*cache, key)), kTolerance);
}

TEST_F(StateCacheTest, ChangeResumesFromTheLastSnapshotBeforeIt) {
    std::vector<std::string> pages = samplePages(5, 8, 300);
    const auto key = StateKey::document(write("/edit.pdf", pages));
    CacheOptions options;
    options.snapshotSpacingTokens = 500;
    auto cache = open(options);
    get(*cache, key);
    const auto saved = rows(key, cache->modelId());
    ASSERT_GE(saved.size(), 3u);  // a head and snapshots

    pages[5] = sampleText(1234, 300);  // page 6 changes
    write("/edit.pdf", pages);
    auto text = cache->text(key);
    ASSERT_TRUE(text);
    const int64_t page6 = (*text)->pieces[5].tokenStart;
    StateResult r = get(*cache, key);
    EXPECT_EQ(r.from, StateTier::Disk);
    EXPECT_GT(r.resumedAt, 0);
    EXPECT_LE(r.resumedAt, page6);
    EXPECT_GT(r.resumedAt, page6 - 2 * 500 - 300);  // the nearest snapshot, not an early one
    EXPECT_LT(stateError(r.session, fullRead(*cache, key)), kTolerance);
}

TEST_F(StateCacheTest, AsOfPageEqualsReadingUpToThatPage) {
    const auto key = StateKey::document(write("/pages.pdf", samplePages(6, 6, 300)));
    CacheOptions options;
    options.snapshotSpacingTokens = 400;
    auto cache = open(options);
    get(*cache, key);
    StateRequest request;
    request.key = key;
    request.asOfPage = 4;
    StateResult r = get(*cache, request);
    auto text = cache->text(key);
    ASSERT_TRUE(text);
    const int64_t through = *(*text)->tokensThroughPage(4);
    EXPECT_EQ(r.session.position(), through);
    EXPECT_GT(r.resumedAt, 0);  // from a snapshot
    EXPECT_LT(stateError(r.session, fullRead(*cache, key, through)), kTolerance);
    // The whole document's head is still resident.
    EXPECT_EQ(get(*cache, key).from, StateTier::Resident);
    request.asOfPage = 7;
    EXPECT_FALSE(cache->get(request));
}

TEST_F(StateCacheTest, CancelKeepsWhatWasReadAndTheNextGetResumes) {
    const auto key = StateKey::document(write("/long.pdf", samplePages(7, 4, 1500)));
    CacheOptions options;
    options.snapshotSpacingTokens = 0;
    auto cache = open(options);
    std::atomic<bool> cancel{false};
    StateRequest request;
    request.key = key;
    request.cancel = &cancel;
    int64_t seen = 0;
    request.progress = [&](int64_t done, int64_t) {
        seen = done;
        cancel.store(true);
    };
    auto r = cache->get(request);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("cancelled"), std::string::npos) << r.error();
    ASSERT_GT(seen, 0);
    StateResult resumed = get(*cache, key);
    EXPECT_EQ(resumed.from, StateTier::Disk);
    EXPECT_EQ(resumed.resumedAt, seen);
    EXPECT_LT(stateError(resumed.session, fullRead(*cache, key)), kTolerance);
}

TEST_F(StateCacheTest, AnotherModelsStateIsRefusedAndRebuilt) {
    const auto key = StateKey::document(write("/a.pdf", samplePages(8, 3, 300)));
    CacheOptions options;
    options.snapshotSpacingTokens = 0;
    TestModel other(8);
    auto mine = open(options);
    auto theirs = open(options, &*other.model);
    get(*mine, key);
    const StateResult good = get(*theirs, key);
    EXPECT_EQ(good.from, StateTier::Rebuilt);  // their rows are not ours
    const auto myRows = rows(key, mine->modelId());
    const auto theirRows = rows(key, theirs->modelId());
    ASSERT_EQ(myRows.size(), 1u);
    ASSERT_EQ(theirRows.size(), 1u);
    // Put my file where their index points.
    fs::copy_file(st.dir / myRows[0].path, st.dir / theirRows[0].path,
                  fs::copy_options::overwrite_existing);
    theirs->dropMemory();
    StateResult r = get(*theirs, key);
    EXPECT_EQ(r.from, StateTier::Rebuilt);
    ASSERT_EQ(r.refused.size(), 1u);
    EXPECT_NE(r.refused[0].find("was made by model"), std::string::npos) << r.refused[0];
    EXPECT_LT(stateError(r.session, good.session), 1e-6);
    // The rebuilt state was saved again, and loads.
    theirs->dropMemory();
    StateResult again = get(*theirs, key);
    EXPECT_EQ(again.from, StateTier::Disk);
    EXPECT_TRUE(again.refused.empty());
}

TEST_F(StateCacheTest, DamagedStateIsRefusedAndRebuilt) {
    const auto key = StateKey::document(write("/a.pdf", samplePages(9, 3, 300)));
    CacheOptions options;
    options.snapshotSpacingTokens = 0;
    auto cache = open(options);
    const StateResult good = get(*cache, key);
    const auto saved = rows(key, cache->modelId());
    ASSERT_EQ(saved.size(), 1u);
    {
        std::fstream f(st.dir / saved[0].path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(200);
        f.put('\x5a');
    }
    cache->dropMemory();
    StateResult r = get(*cache, key);
    EXPECT_EQ(r.from, StateTier::Rebuilt);
    ASSERT_EQ(r.refused.size(), 1u);
    EXPECT_NE(r.refused[0].find("damaged at offset"), std::string::npos) << r.refused[0];
    EXPECT_LT(stateError(r.session, good.session), 1e-6);
    // Truncated: refused as well.
    fs::resize_file(st.dir / saved[0].path, 100);
    cache->dropMemory();
    StateResult t = get(*cache, key);
    EXPECT_EQ(t.from, StateTier::Rebuilt);
    EXPECT_EQ(t.refused.size(), 1u);
}

TEST_F(StateCacheTest, MemoryStaysWithinBudgetsAndEvictedStatesReloadBitIdentically) {
    // MEM-2, scaled to CI: 60 documents, budgets of a few states each.
    std::vector<StateKey> keys;
    for (int i = 0; i < 60; ++i)
        keys.push_back(StateKey::document(write("/d" + std::to_string(i), {sampleText(i, 40)})));
    CacheOptions options;
    options.snapshotSpacingTokens = 0;
    auto cache = open(options);
    const int64_t one = get(*cache, keys[0]).session.state().sizeBytes() +
                        int64_t(model.model->info().vocabPadded) * 4;
    cache = nullptr;
    options.residentBudgetBytes = 5 * one;
    options.hostBudgetBytes = 7 * one + one / 2;
    cache = open(options);
    std::vector<Session> firsts;
    for (const StateKey& k : keys) {
        firsts.push_back(get(*cache, k).session);
        const TierStats t = cache->stats();
        EXPECT_LE(t.residentBytes, options.residentBudgetBytes * 105 / 100);
        EXPECT_LE(t.hostBytes, options.hostBudgetBytes * 105 / 100);
    }
    const TierStats t = cache->stats();
    EXPECT_EQ(t.residentCount, 5);
    EXPECT_EQ(t.hostCount, 7);
    EXPECT_EQ(t.diskCount, 60);
    int fromDisk = 0;
    for (size_t i = 0; i < keys.size(); ++i) {
        StateResult r = get(*cache, keys[i]);
        fromDisk += r.from == StateTier::Disk;
        EXPECT_NE(r.from, StateTier::Rebuilt) << i;
        EXPECT_TRUE(bitIdentical(r.session, firsts[i])) << i;
    }
    EXPECT_GT(fromDisk, 40);
}

TEST_F(StateCacheTest, DiskBudgetEvictsSnapshotsFirst) {
    std::vector<StateKey> keys;
    for (int i = 0; i < 6; ++i)
        keys.push_back(
            StateKey::document(write("/p" + std::to_string(i), samplePages(i + 20, 4, 200))));
    CacheOptions options;
    options.snapshotSpacingTokens = 150;
    auto probe = open(options);
    get(*probe, keys[0]);
    const int64_t fileBytes = rows(keys[0], probe->modelId())[0].bytes;
    probe = nullptr;
    options.diskBudgetBytes = 8 * fileBytes;
    auto cache = open(options);
    for (const StateKey& k : keys) get(*cache, k);
    EXPECT_LE(cache->stats().diskBytes, options.diskBudgetBytes);
    // Every document keeps its head: the snapshots went first.
    for (const StateKey& k : keys) {
        bool head = false;
        for (const auto& r : rows(k, cache->modelId())) head = head || !r.snapshot;
        EXPECT_TRUE(head) << k.describe();
    }
}

TEST_F(StateCacheTest, CollectionStreamAppendsANewFile) {
    write("/src/a.c", {"int a;", "int b;"}, false);
    write("/src/b.c", {"int c;"}, false);
    const auto key = StateKey::collection(st.collection);
    auto cache = open();
    StateResult first = get(*cache, key);
    EXPECT_EQ(first.from, StateTier::Rebuilt);
    EXPECT_NE(first.text->text.find("=== file: /src/b.c ==="), std::string::npos);
    write("/src/c.c", {"int d;", "int e;"}, false);
    StateResult grown = get(*cache, key);
    EXPECT_EQ(grown.from, StateTier::Resident);
    EXPECT_EQ(grown.resumedAt, first.session.position());
    EXPECT_LT(stateError(grown.session, fullRead(*cache, key)), kTolerance);
}

TEST_F(StateCacheTest, RemoveAndGarbageCollection) {
    const auto a = StateKey::document(write("/a.pdf", samplePages(30, 2, 200)));
    const auto b = StateKey::document(write("/b.pdf", samplePages(31, 2, 200)));
    auto cache = open();
    get(*cache, a);
    get(*cache, b);
    ASSERT_TRUE(cache->remove(a));
    EXPECT_TRUE(rows(a, cache->modelId()).empty());
    EXPECT_EQ(get(*cache, a).from, StateTier::Rebuilt);
    // An orphan file (a writer killed before its row) and a row whose file is gone.
    const fs::path orphan = st.dir / "states" / cache->modelId() / "d999-5.state";
    std::ofstream(orphan) << "junk";
    fs::last_write_time(orphan, fs::file_time_type::clock::now() - std::chrono::minutes(5));
    const auto bRows = rows(b, cache->modelId());
    ASSERT_FALSE(bRows.empty());
    fs::remove(st.dir / bRows[0].path);
    auto gc = cache->collectGarbage();
    ASSERT_TRUE(gc) << gc.error();
    EXPECT_EQ(gc->filesRemoved, 1);
    EXPECT_EQ(gc->rowsRemoved, 1);
    EXPECT_FALSE(fs::exists(orphan));
    EXPECT_EQ(*st.store->integrityCheck(), "ok");
    cache->dropMemory();
    EXPECT_EQ(get(*cache, b).from, StateTier::Rebuilt);
    // A document removed from its collection loses its states at the next gc.
    ASSERT_TRUE(st.store->markRemoved(b.id));
    auto gc2 = cache->collectGarbage();
    ASSERT_TRUE(gc2) << gc2.error();
    EXPECT_EQ(gc2->rowsRemoved, 1);
    EXPECT_TRUE(rows(b, cache->modelId()).empty());
}
