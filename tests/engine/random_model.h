// Random Mamba-3 models for tests and benchmarks: a config.json and a model.safetensors
// with weights drawn like the golden data's (official-scale init, then perturbed so that no
// parameter sits at a special value), written to a folder that Model::load reads.
#pragma once

#include <cstdint>
#include <string>

#include "io/raw_tensor.h"
#include "lectern/status.h"

namespace lectern::test {

struct RandomModelSpec {
    int dModel = 64, nLayer = 2, vocab = 256, dIntermediate = 0;
    int dState = 32, headdim = 16, expand = 2, ngroups = 1;
    int mimoRank = 0;  // 0: SISO
    int chunk = 16;
    double ropeFraction = 0.5;
    bool outprojNorm = false, tied = true;
    std::string describe() const;
};

std::string randomConfigJson(const RandomModelSpec& spec);
// The tensors config.json implies, with random values (seeded).
Expected<io::TensorMap> randomWeights(const RandomModelSpec& spec, uint64_t seed);
// Writes config.json and model.safetensors into `dir` (created if needed).
Status writeRandomModel(const std::string& dir, const RandomModelSpec& spec, uint64_t seed);
// A random spec within small test sizes, drawn from `seed`.
RandomModelSpec randomSpec(uint64_t seed);
// A fresh folder under the system temp dir, removed by the caller.
std::string makeTempDir(const std::string& prefix);

}  // namespace lectern::test
