// CPU reference backward of linear_forward (engine/ops/linear.h), out = in · Wᵀ:
//   din += dout · W      [rows, outF] x [outF, inF]
//   dW  += doutᵀ · in    [outF, rows] x [rows, inF]
// Two OpenBLAS sgemm calls with beta = 1 (accumulate). Also the LM head's backward.
#include <cblas.h>

#include "training/backward/backward_ops.h"

namespace lectern::train {

void linear_backward(float* din, float* dW, const float* dout, const float* in, const float* W,
                     int64_t rows, int64_t inF, int64_t outF) {
    if (rows <= 0) return;
    if (din != nullptr) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(rows), blasint(inF),
                    blasint(outF), 1.0f, dout, blasint(outF), W, blasint(inF), 1.0f, din,
                    blasint(inF));
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, blasint(outF), blasint(inF), blasint(rows),
                1.0f, dout, blasint(outF), in, blasint(inF), 1.0f, dW, blasint(inF));
}

}  // namespace lectern::train
