// Document state files (RELIABILITY STATE-1): a versioned little-endian binary format that
// names the model that made the state (Model::identityHash), its dtype and shapes, the
// token position, the payload (per layer angle, ssm, k, v, then optionally the last
// token's logits, all fp32) and CRC-32 checksums over the header and over each 64 KiB block
// of the payload, so damage is reported with its offset. Written atomically.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "lectern/document_state.h"
#include "lectern/engine.h"
#include "lectern/status.h"

namespace lectern::io {

inline constexpr uint32_t kStateFormatVersion = 1;
inline constexpr size_t kStateHeaderBytes = 76;
inline constexpr size_t kStateBlockBytes = 65536;

struct LoadedState {
    DocumentState state;
    std::vector<float> lastLogits;  // empty if the file holds none
};

// What a file must match: the reading model's identity, state shape and padded vocabulary.
struct StateExpectation {
    uint64_t identity = 0;
    StateShape shape;
    int vocabPadded = 0;
};
StateExpectation stateExpectation(const Model& model);

std::string stateEncode(const DocumentState& state, std::span<const float> lastLogits,
                        uint64_t identity);
// `name` (the path) starts every message: "state <name> was made by model X ...".
Expected<LoadedState> stateDecode(std::span<const uint8_t> bytes, const std::string& name,
                                  const StateExpectation& expect);

Status stateSave(const std::string& path, const Model& model, const Session& session);
// Reads `path` into `session` (a session of `model`); on error the session is unchanged.
Status stateLoad(const std::string& path, const Model& model, Session& session);

}  // namespace lectern::io
