// Computing a document's surprise map: read its text (as the state cache tokenizes it) in a
// fresh session with PrefillOptions::surprisalBits, aggregate (surprise_map.h) and store it
// (surprise_store.h). Its own pass over the document rather than a hook in the state build:
// the cache usually resumes from a saved state, and surprisal needs every token read.
// A stored map for the current model is reused; another model's is replaced.
#pragma once

#include <atomic>
#include <functional>

#include "state_cache.h"
#include "surprise_store.h"

namespace lectern::services {

struct SurpriseRequest {
    int64_t documentId = 0;
    bool recompute = false;  // even when the current model's map is stored
    const std::atomic<bool>* cancel = nullptr;
    std::function<void(int64_t done, int64_t total)> progress;
};

struct SurpriseResult {
    SurpriseRun run;
    bool computed = false;  // false: the stored map was current
    double seconds = 0;     // computing it
    bool hasPages = false;  // the document has pages (PDF)
    bool prose = true;      // rank sentences (prose) or lines (code, records)
};

// `db` is the store's connection for the surprise tables.
Expected<SurpriseResult> surpriseEnsure(StateCache& cache, store::Db& db,
                                        const SurpriseRequest& request);

// The map of `text` given per-token surprisal (one value per token of text.tokens).
Expected<SurpriseMap> surpriseFromText(const DocumentText& text, std::span<const float> bits);

}  // namespace lectern::services
