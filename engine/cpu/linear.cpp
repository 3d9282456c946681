// CPU reference for linear_forward (engine/ops/linear.h): one OpenBLAS sgemm (sgemv for a
// single row). OpenBLAS threads the call itself, so callers must not be inside an OpenMP
// parallel region.
#include "ops/linear.h"

#include <cblas.h>

namespace lectern::cpu {

void linear_forward(float* out, const float* in, const float* weight, int64_t rows, int64_t inF,
                    int64_t outF) {
    if (rows <= 0 || outF <= 0) return;
    if (rows == 1) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(outF), blasint(inF), 1.0f, weight,
                    blasint(inF), in, 1, 0.0f, out, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(rows), blasint(outF), blasint(inF),
                1.0f, in, blasint(inF), weight, blasint(inF), 0.0f, out, blasint(outF));
}

}  // namespace lectern::cpu
