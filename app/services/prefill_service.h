// Prefill in the background: reads a list of sources into the state cache on one
// std::thread, reporting progress, cancellable at any moment; what was computed before a
// cancel is kept in the cache (a snapshot), so a later run resumes from it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "state_cache.h"

namespace lectern::services {

struct PrefillProgress {
    StateKey key;
    size_t index = 0, count = 0;  // which source of how many
    int64_t done = 0, total = 0;  // tokens of this source
};

struct PrefillReport {
    // The first error, else ok. A source that fails (out of memory, a vanished document)
    // costs only itself: the run goes on with the next and lists each in `failures`.
    Status status;
    std::vector<std::string> failures;  // "<source>: <message>", one per failed source
    bool cancelled = false;
    size_t finished = 0;  // sources whose state is complete
    int64_t tokens = 0;   // read in this run
    double seconds = 0;
    std::vector<StateTier> from;  // per finished source
};

class PrefillService {
public:
    explicit PrefillService(StateCache& cache) : cache_(&cache) {}
    ~PrefillService();  // cancels and joins
    PrefillService(const PrefillService&) = delete;
    PrefillService& operator=(const PrefillService&) = delete;

    // Starts a run; an error if one is running. Callbacks run on the worker thread.
    Status start(std::vector<StateKey> keys, std::function<void(const PrefillProgress&)> progress,
                 std::function<void(const PrefillReport&)> finished = {});
    void cancel();
    PrefillReport wait();  // joins; the last run's report
    bool running() const { return running_.load(); }

private:
    StateCache* cache_;
    std::thread worker_;
    std::atomic<bool> cancel_{false}, running_{false};
    PrefillReport report_;
};

}  // namespace lectern::services
