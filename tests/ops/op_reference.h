// Float64 references for the Mamba-3 ops, written straight from the maths in the
// engine/ops headers (no chunking, no fusion), as oracles for every backend's op.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/mamba3_dims.h"

namespace lectern::test {

struct SsmRefInputs {
    std::vector<float> q, k;           // [T, R, H, N] rotated
    std::vector<float> x;              // [T, H*P]
    std::vector<float> adt, dt, trap;  // [T, H]
    std::vector<float> D;              // [H]
    std::vector<float> mimoX;          // [H, R, P] or empty
};

struct SsmRefState {
    std::vector<double> ssm, k, v;  // [H, P, N], [R, H, N], [H, P]
};

// The recurrence of ssm_scan_common.h in double; y [T, R, H, P].
std::vector<double> ssmReference(const ops::Mamba3Dims& d, const SsmRefInputs& in, int64_t T,
                                 SsmRefState& st);

// mamba3_gate in double.
std::vector<double> gateReference(const ops::Mamba3Dims& d, const std::vector<float>& y,
                                  const std::vector<float>& z, const std::vector<float>& mimoZ,
                                  const std::vector<float>& mimoO, const std::vector<float>& normW,
                                  int64_t T);

}  // namespace lectern::test
