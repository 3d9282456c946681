// RELIABILITY MEM-2 at the specified scale on a real store and a random model (CPU):
// 1,000 document states under a 256 MiB host budget. Its own executable so that it can be
// labelled no_sanitize: it runs ~20 s in Release but ~155 s under ASan+UBSan (1,000 state
// files written and read three times), past the 60 s per-test limit; the scaled-down MEM-2
// test in test_state_cache.cpp covers the same code under the sanitizers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "random_model.h"
#include "services_test_util.h"
#include "state_index.h"

using namespace lectern;
using namespace lectern::services;
using namespace lectern::services::testing;
namespace fs = std::filesystem;

namespace {

// FNV-1a over a state's tensors, position and last logits: enough to prove a reload is
// bit-identical without keeping 1,000 half-MiB states in memory.
uint64_t fingerprint(const Session& s) {
    uint64_t h = 1469598103934665603ull;
    auto mix = [&h](const void* data, size_t bytes) {
        const auto* p = static_cast<const unsigned char*>(data);
        for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
    };
    const int64_t position = s.position();
    mix(&position, sizeof position);
    for (const LayerState& l : s.state().layers())
        for (const auto* v : {&l.angle, &l.ssm, &l.k, &l.v}) mix(v->data(), v->size() * 4);
    mix(s.lastLogits().data(), s.lastLogits().size() * 4);
    return h;
}

}  // namespace

// MEM-2 at the specified scale: 1,000 document states of ~0.5 MiB (≈ 2× the 256 MiB host
// budget), so most of them are evicted through host to disk and must come back from it.
TEST(StateCacheScale, ThousandStatesWithin256MiBHostBudgetReloadBitIdentically) {
    ScratchStore st;
    // A model whose state is ~0.5 MiB but whose prefill is cheap: 2 layers, 8 heads of
    // headdim 32, d_state 256 (the ssm tensor, 8·32·256 floats a layer, dominates).
    const std::string modelDir = test::makeTempDir("lectern-mem2-model");
    struct Cleanup {
        std::string dir;
        ~Cleanup() {
            std::error_code ec;
            fs::remove_all(dir, ec);
        }
    } cleanup{modelDir};
    test::RandomModelSpec spec;
    spec.dModel = 128;
    spec.nLayer = 2;
    spec.dState = 256;
    spec.headdim = 32;
    spec.chunk = 16;
    ASSERT_TRUE(test::writeRandomModel(modelDir, spec, 11));
    auto model = Model::load(modelDir);
    ASSERT_TRUE(model) << model.error();

    constexpr int kDocuments = 1000;
    std::vector<StateKey> keys;
    for (int i = 0; i < kDocuments; ++i) {
        auto id = writeDocument(*st.store, st.collection, "/m" + std::to_string(i),
                                {sampleText(1000 + i, 12)});
        ASSERT_TRUE(id) << id.error();
        keys.push_back(StateKey::document(*id));
    }
    CacheOptions options;
    options.storeDir = st.dir;
    options.snapshotSpacingTokens = 0;
    options.residentBudgetBytes = int64_t(32) << 20;
    options.hostBudgetBytes = int64_t(256) << 20;
    auto opened = StateCache::open(*model, TextCodec(), options);
    ASSERT_TRUE(opened) << opened.error();
    StateCache& cache = **opened;

    int64_t stateBytes = 0, peakResident = 0, peakHost = 0;
    auto withinBudgets = [&](const char* pass, int i) {
        const TierStats t = cache.stats();
        peakResident = std::max(peakResident, t.residentBytes);
        peakHost = std::max(peakHost, t.hostBytes);
        EXPECT_LE(t.residentBytes, options.residentBudgetBytes * 105 / 100) << pass << i;
        EXPECT_LE(t.hostBytes, options.hostBudgetBytes * 105 / 100) << pass << i;
    };
    std::vector<uint64_t> computed;
    for (int i = 0; i < kDocuments; ++i) {
        auto r = cache.get({.key = keys[i]});
        ASSERT_TRUE(r) << r.error();
        EXPECT_EQ(r->from, StateTier::Rebuilt) << i;
        stateBytes = int64_t(r->session.state().sizeBytes());
        computed.push_back(fingerprint(r->session));
        withinBudgets("first get, document ", i);
    }
    // The premise: the states do not fit in memory (resident + host < all of them).
    ASSERT_GT(stateBytes, 400 << 10);
    ASSERT_GT(stateBytes * kDocuments, 2 * (options.hostBudgetBytes * 9 / 10));
    const TierStats full = cache.stats();
    EXPECT_GT(full.hostCount, 0);
    const int64_t onDiskOnly = kDocuments - full.residentCount - full.hostCount;
    EXPECT_GT(onDiskOnly, kDocuments / 3);
    // No state lost: every document has its file and its row.
    EXPECT_EQ(full.diskCount, kDocuments);
    store::StateIndex index(st.store->database());
    for (int i = 0; i < kDocuments; ++i) {
        auto rows = index.forOwner(keys[i].owner, keys[i].id, cache.modelId());
        ASSERT_TRUE(rows) << rows.error();
        EXPECT_EQ(rows->size(), 1u) << i;
    }

    // Second pass in the same order: the LRU tiers hold the last few hundred, so the early
    // ones come from disk; every state equals what was computed, and none is rebuilt.
    int fromDisk = 0;
    for (int i = 0; i < kDocuments; ++i) {
        auto r = cache.get({.key = keys[i]});
        ASSERT_TRUE(r) << r.error();
        EXPECT_NE(r->from, StateTier::Rebuilt) << i;
        EXPECT_TRUE(r->refused.empty()) << i;
        fromDisk += r->from == StateTier::Disk;
        EXPECT_EQ(fingerprint(r->session), computed[i]) << i;
        withinBudgets("second get, document ", i);
    }
    EXPECT_GE(fromDisk, onDiskOnly);
    // And every one from disk, after the memory tiers are dropped.
    cache.dropMemory();
    for (int i = 0; i < kDocuments; ++i) {
        auto r = cache.get({.key = keys[i]});
        ASSERT_TRUE(r) << r.error();
        EXPECT_EQ(r->from, StateTier::Disk) << i;
        EXPECT_EQ(fingerprint(r->session), computed[i]) << i;
        withinBudgets("after dropMemory, document ", i);
    }
    EXPECT_EQ(cache.stats().diskCount, kDocuments);
    std::printf(
        "MEM-2: %d states of %lld bytes; peak resident %lld / %lld, host %lld / %lld; "
        "%lld only on disk; %d of the second pass from disk\n",
        kDocuments, (long long)stateBytes, (long long)peakResident,
        (long long)options.residentBudgetBytes, (long long)peakHost,
        (long long)options.hostBudgetBytes, (long long)onDiskOnly, fromDisk);
}
