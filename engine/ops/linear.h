// Op linear_forward: a bias-free nn.Linear, out = in · Wᵀ (one GEMM).
//   in  fp32 [rows, inF] row-major;  W fp32 [outF, inF] row-major (PyTorch layout)
//   out fp32 [rows, outF]
// Used for in_proj, out_proj and the MLP. The CPU backend calls cblas_sgemm; rows == 1
// (decode) is a GEMV and is memory-bound on W.
#pragma once

#include <cstdint>

namespace lectern::cpu {

void linear_forward(float* out, const float* in, const float* weight, int64_t rows, int64_t inF,
                    int64_t outF);

}  // namespace lectern::cpu
