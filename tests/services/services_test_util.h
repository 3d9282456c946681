// Shared by the services tests: a scratch store with documents written the way the ingest
// pipeline writes them (pages or line ranges), a small random model, and state comparison.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lectern/engine.h"
#include "state_cache.h"
#include "store.h"

namespace lectern::services::testing {

// A fresh store in a temp folder (removed at the end) with one collection "c".
struct ScratchStore {
    ScratchStore();
    ~ScratchStore();
    std::filesystem::path dir;
    std::unique_ptr<store::Store> store;
    int64_t collection = 0;
};

// Writes (or replaces) the document at `path`: one segment per entry, Page segments
// numbered from 1 (or Lines segments). Returns the document id.
Expected<int64_t> writeDocument(store::Store& store, int64_t collectionId, const std::string& path,
                                const std::vector<std::string>& segments, bool pages = true);

// Deterministic prose-like text of about `bytes` bytes.
std::string sampleText(uint64_t seed, size_t bytes);
std::vector<std::string> samplePages(uint64_t seed, int pages, size_t bytesPerPage);

// A random small model written to a temp folder and loaded (byte-level: no tokenizer.json).
struct TestModel {
    explicit TestModel(uint64_t seed = 7);
    ~TestModel();
    std::string dir;
    std::optional<Model> model;
};

// max|a−b| / max|b| over every state tensor (angles modulo 2π) and the last logits.
double stateError(const Session& a, const Session& b);
bool bitIdentical(const Session& a, const Session& b);

}  // namespace lectern::services::testing
