// The background prefill: a run over several sources with progress, a cancel in the
// middle that keeps what was read, and a second run that resumes from it.
#include <gtest/gtest.h>

#include "prefill_service.h"
#include "services_test_util.h"

using namespace lectern;
using namespace lectern::services;
using namespace lectern::services::testing;

TEST(PrefillService, RunsCancelsAndResumes) {
    ScratchStore st;
    TestModel model;
    std::vector<StateKey> keys;
    for (int i = 0; i < 3; ++i) {
        auto id = writeDocument(*st.store, st.collection, "/d" + std::to_string(i) + ".pdf",
                                samplePages(uint64_t(i) + 40, 3, 1500));
        ASSERT_TRUE(id) << id.error();
        keys.push_back(StateKey::document(*id));
    }
    keys.push_back(StateKey::collection(st.collection));
    CacheOptions options;
    options.storeDir = st.dir;
    options.snapshotSpacingTokens = 0;
    auto cache = StateCache::open(*model.model, TextCodec(), options);
    ASSERT_TRUE(cache) << cache.error();

    PrefillService service(**cache);
    // Cancel once the second source is under way.
    std::atomic<int64_t> progressCalls{0};
    ASSERT_TRUE(service.start(keys, [&](const PrefillProgress& p) {
        ++progressCalls;
        EXPECT_EQ(p.count, keys.size());
        EXPECT_LE(p.done, p.total);
        if (p.index == 1 && p.done > 0) service.cancel();
    }));
    EXPECT_FALSE(service.start(keys, {}));  // one run at a time
    PrefillReport first = service.wait();
    EXPECT_TRUE(first.cancelled);
    EXPECT_TRUE(first.status) << first.status.message();
    EXPECT_EQ(first.finished, 1u);
    EXPECT_GT(progressCalls.load(), 1);

    PrefillReport second;
    bool finishedCalled = false;
    ASSERT_TRUE(service.start(
        keys, {}, [&](const PrefillReport& r) { finishedCalled = r.finished == keys.size(); }));
    second = service.wait();
    EXPECT_FALSE(second.cancelled);
    EXPECT_TRUE(second.status) << second.status.message();
    ASSERT_EQ(second.from.size(), keys.size());
    EXPECT_TRUE(finishedCalled);
    EXPECT_EQ(second.from[0], StateTier::Resident);  // finished in the first run
    EXPECT_EQ(second.from[1], StateTier::Disk);      // resumed from the partial state
    EXPECT_EQ(second.from[2], StateTier::Rebuilt);
    // Everything is in the cache now.
    for (const StateKey& k : keys) {
        StateRequest request;
        request.key = k;
        auto r = (*cache)->get(request);
        ASSERT_TRUE(r) << r.error();
        EXPECT_EQ(r->prefilled, 0);
    }
}

// A source that fails costs only itself: the run reads the others and lists the failure.
TEST(PrefillService, AFailingSourceDoesNotStopTheRun) {
    ScratchStore st;
    TestModel model;
    std::vector<StateKey> keys;
    for (int i = 0; i < 2; ++i) {
        auto id = writeDocument(*st.store, st.collection, "/e" + std::to_string(i) + ".pdf",
                                samplePages(uint64_t(i) + 70, 2, 600));
        ASSERT_TRUE(id) << id.error();
        keys.push_back(StateKey::document(*id));
    }
    keys.insert(keys.begin() + 1, StateKey::document(987654321));  // no such document
    CacheOptions options;
    options.storeDir = st.dir;
    auto cache = StateCache::open(*model.model, TextCodec(), options);
    ASSERT_TRUE(cache) << cache.error();

    PrefillService service(**cache);
    ASSERT_TRUE(service.start(keys, {}));
    const PrefillReport report = service.wait();
    EXPECT_FALSE(report.cancelled);
    EXPECT_FALSE(report.status);
    EXPECT_EQ(report.finished, 2u);
    ASSERT_EQ(report.failures.size(), 1u);
    EXPECT_NE(report.failures[0].find("987654321"), std::string::npos) << report.failures[0];
    EXPECT_EQ(report.from.size(), 2u);
}
