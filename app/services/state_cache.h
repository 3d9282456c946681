// The state cache: every document's and collection's model state after one prefill, kept
// in three tiers under byte budgets (the Okular MemoryLevel idea):
//   resident  live Session objects (device state on a CUDA model), LRU;
//   host      plain DocumentState + last logits in host memory, LRU;
//   disk      state files in <store>/states/<model id>/, written atomically and indexed in
//             the store (StateIndex), with snapshots at page and file boundaries.
// Everything is bound to Model::identityHash(): another model's state or a damaged file is
// refused (and its row and file dropped) and the state rebuilt, never loaded.
//
// get() returns a fork the caller may prefill into (a question), and says where the state
// came from. A source that grew continues from its state; a changed one re-reads from the
// last snapshot whose prefix is still the current text (document_text.h's hash chain).
// A cancelled prefill keeps what it computed (a partial snapshot) and the next get()
// resumes from it.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "document_text.h"
#include "lectern/engine.h"
#include "state_index.h"
#include "text_codec.h"
#include "text_source.h"

namespace lectern::store {
class Store;
}

namespace lectern::services {

enum class StateTier { Resident, Host, Disk, Rebuilt };
const char* stateTierName(StateTier tier);  // "resident", "host", "disk", "rebuilt"

struct CacheOptions {
    std::filesystem::path storeDir;                  // states live in <storeDir>/states/
    int64_t residentBudgetBytes = int64_t(1) << 30;  // live sessions
    int64_t hostBudgetBytes = int64_t(2) << 30;      // spilled states
    int64_t diskBudgetBytes = int64_t(16) << 30;     // state files, snapshots evicted first
    // A snapshot at the first page or file boundary after this many tokens since the last
    // one (0: no snapshots; heads are still saved).
    int64_t snapshotSpacingTokens = int64_t(1) << 16;
    bool persist = true;  // write states to disk
};

struct StateRequest {
    StateKey key;
    int64_t asOfPage = 0;  // > 0: the state after page N (a document with pages)
    const std::atomic<bool>* cancel = nullptr;
    std::function<void(int64_t done, int64_t total)> progress;  // tokens of this source
};

struct StateResult {
    Session session;                      // a fork: the caller may read more into it
    StateTier from = StateTier::Rebuilt;  // where the starting state came from
    int64_t resumedAt = 0;                // tokens the starting state held
    int64_t prefilled = 0;                // tokens read by this call
    double loadSeconds = 0;               // finding and loading the starting state
    double prefillSeconds = 0;            // reading the rest
    // The text (null when the source was unchanged and no page was asked for: the state
    // came back without tokenizing anything; text() gives it on demand).
    std::shared_ptr<const DocumentText> text;
    // States refused on the way ("state X was made by model Y", "... is damaged at offset
    // N"): each was dropped and the state rebuilt from an earlier point.
    std::vector<std::string> refused;
};

struct TierStats {
    int64_t residentCount = 0, residentBytes = 0, residentBudget = 0;
    int64_t hostCount = 0, hostBytes = 0, hostBudget = 0;
    int64_t diskCount = 0, diskBytes = 0, diskBudget = 0;  // this model's files
};

struct GcReport {
    int64_t filesRemoved = 0, rowsRemoved = 0, bytesFreed = 0;
};

class StateCache {
public:
    // Opens its own connection to the store in options.storeDir (the cache is used from
    // worker threads). `model` must outlive the cache.
    static Expected<std::unique_ptr<StateCache>> open(const Model& model, TextCodec codec,
                                                      CacheOptions options);
    ~StateCache();

    Expected<StateResult> get(const StateRequest& request);
    // The source's text as the model reads it (tokenized; kept while the source is unchanged).
    Expected<std::shared_ptr<const DocumentText>> text(const StateKey& key);
    // Drops the key's states from every tier (files and rows included).
    Status remove(const StateKey& key);
    // Drops memory tiers only (tests: the next get() must come from disk).
    void dropMemory();
    // Files without a row, rows without a file or pointing at a damaged file, then the disk
    // budget (snapshots first, least recently used first).
    Expected<GcReport> collectGarbage();
    TierStats stats() const;

    const Model& model() const { return *model_; }
    const TextCodec& codec() const { return codec_; }
    const std::string& modelId() const { return modelId_; }  // 16 hex digits
    const CacheOptions& options() const { return options_; }

    struct Impl;  // internal (state_cache_impl.h)

private:
    explicit StateCache(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
    const Model* model_;
    TextCodec codec_;
    std::string modelId_;
    CacheOptions options_;
};

// 16 lower-case hex digits of Model::identityHash, as stored in model_states.model_id.
std::string modelIdOf(const Model& model);

}  // namespace lectern::services
