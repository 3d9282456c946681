// RELIABILITY NUM-2: a long document read by several engines, their states compared with the
// double-precision reference (reference_fp64.h) at checkpoints along the way: the worst
// relative error over the layers of the ssm, k and v states and the circular error of the
// angles (radians). Shared by the CPU test (tests/engine) and the GPU one (tests/cuda).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lectern/engine.h"
#include "random_model.h"
#include "tensor_check.h"

namespace lectern::test {

struct DriftRow {
    std::string engine;
    int64_t tokens = 0;
    ErrorStats ssm, k, v, angle;  // worst layer of each
    // ssm and k compared through the lengths of their rotated pairs (the frame-free
    // content), and the angles only reported: see DriftEngine::frameFree.
    bool frameFree = false;
    bool withinBound = false;  // under its engine's bound at this length; never with NaN
    std::string describe() const;
};

struct DriftEngine {
    std::string name;
    const Model* model;
    // Its documented bound at a length: on the relative errors of ssm, k and v, and on the
    // angles' circular error (radians).
    std::function<double(int64_t tokens)> bound;
    bool bf16Projections = false;  // compared with the reference of the bf16-rounded model
    // bf16: where a rounding falls on the other side of a bf16 boundary than in the
    // reference, it does so every time that token recurs, so the angles drift apart by
    // ~1e-5 rad a token and end uncorrelated after ~10^5 tokens; what the state holds is
    // compared in a frame-free way (the length of each rotated pair, the rest as is).
    bool frameFree = false;
};

// Reads ids into one session per engine and into the reference, piece by piece up to each
// checkpoint (ascending, the last one ids.size()), and compares there. Prints the table.
// An error (the folder, a prefill) is returned as a message in `error`.
std::vector<DriftRow> measureDrift(const std::string& modelDir, const std::vector<int32_t>& ids,
                                   const std::vector<int64_t>& checkpoints,
                                   const std::vector<DriftEngine>& engines, std::string& error);

// The small random model of the drift tests (the fp64 reference walks 1M tokens of it on
// one core in ~15 s): 2 layers, d_model 32, d_state 16, headdim 16, chunk 64.
RandomModelSpec driftSpec(int mimoRank);

// The document's length: LECTERN_DRIFT_TOKENS if set (at least 64), else dflt.
int64_t driftLength(int64_t dflt);

// The random token ids of a drift run: what a document of `n` tokens of a `vocab`-token
// alphabet looks like to the recurrences (uniform, seeded).
std::vector<int32_t> driftTokens(uint64_t seed, int64_t n, int vocab);

}  // namespace lectern::test
