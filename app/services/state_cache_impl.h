// Internals of StateCache shared by state_cache.cpp (tiers, get) and state_cache_disk.cpp
// (state files and their index rows). Not part of the services API.
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <optional>

#include "state_cache.h"
#include "store.h"

namespace lectern::services {

// Where a state stands in its source's text: tokens read, pieces begun, their hash chain.
struct Checkpoint {
    int64_t position = 0;
    int64_t pieceCount = 0;
    std::string prefixHash = "0";
    int64_t page = 0;     // last page fully read
    int64_t segment = 0;  // pieces fully read
};
Checkpoint checkpointAt(const DocumentText& text, int64_t position);
// True when a state taken at `c` read exactly the first c.position tokens of `text`.
bool checkpointValid(const DocumentText& text, const Checkpoint& c);

// A head state held in memory: resident as a live Session, or spilled to host as data.
struct MemEntry {
    StateKey key;
    std::string fingerprint;  // of the source the state is complete for
    Checkpoint at;
    std::optional<Session> session;  // resident tier
    DocumentState state;             // host tier
    std::vector<float> logits;       // host tier
    int64_t bytes = 0;
};

struct StateCache::Impl {
    const Model* model = nullptr;
    const TextCodec* codec = nullptr;
    std::string modelId;
    CacheOptions options;
    std::unique_ptr<store::Store> store;
    std::unique_ptr<StoreTextSource> source;
    std::unique_ptr<store::StateIndex> index;

    std::mutex work;                     // get/remove/gc: the store connection and prefill
    mutable std::mutex tiers;            // the memory tiers and the counters below
    std::list<MemEntry> resident, host;  // most recently used first
    int64_t residentBytes = 0, hostBytes = 0, diskCount = 0, diskBytes = 0;
    std::list<std::shared_ptr<const DocumentText>> texts;  // a few, most recent first

    // Memory tiers (state_cache.cpp); callers hold `work`.
    std::optional<MemEntry> takeMemory(const StateKey& key);  // removes it from its tier
    void putResident(MemEntry entry);                         // then applies the budgets
    Expected<std::shared_ptr<const DocumentText>> textFor(const StateKey& key,
                                                          const std::string& fingerprint);

    // Disk tier (state_cache_disk.cpp); callers hold `work`.
    std::filesystem::path absolute(const std::string& relative) const;
    Status countDisk();
    Expected<store::StateRow> save(const StateKey& key, const Session& session,
                                   const Checkpoint& at, bool snapshot,
                                   const std::string& sourceHash);
    // Loads the row's file into `session`; a refused file is dropped with its row and the
    // reason returned as the error.
    Status load(const store::StateRow& row, Session& session);
    Status drop(const store::StateRow& row);
    Status enforceDiskBudget(int64_t keepRowId);
    Expected<GcReport> collectGarbage();
};

int64_t nowSeconds();

}  // namespace lectern::services
