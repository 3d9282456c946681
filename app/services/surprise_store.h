// The surprise map in the store (tables surprise_runs and surprise_spans, schema migration
// 3): one run per document and model, its spans per unit, for the viewer and for
// `lectern-cli surprise`. A run made by another model is stale: saving replaces every run
// of the document, so a model change recomputes instead of mixing two models' numbers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sqlite_db.h"
#include "surprise_map.h"

namespace lectern::services {

struct SurpriseRun {
    int64_t id = 0, documentId = 0;
    std::string modelId;
    int64_t tokenCount = 0;
    double meanBits = 0.0;
    int64_t createdAt = 0;  // unix seconds
};

// Replaces the document's runs (all models) with this one, in one transaction.
Expected<int64_t> surpriseSave(store::Db& db, int64_t documentId, const std::string& modelId,
                               const SurpriseMap& map);
// The run of (document, model), if one is stored.
Expected<std::optional<SurpriseRun>> surpriseFind(store::Db& db, int64_t documentId,
                                                  const std::string& modelId);
// A run's spans of one unit: all in order (top < 0), or the `top` highest by mean bits among
// those with at least `minTokens` tokens.
Expected<std::vector<SurpriseSpan>> surpriseSpans(store::Db& db, int64_t runId, SurpriseUnit unit,
                                                  int top = -1, int64_t minTokens = 0);

}  // namespace lectern::services
