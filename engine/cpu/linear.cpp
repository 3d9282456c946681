// CPU reference for linear_forward (engine/ops/linear.h): OpenBLAS sgemm (sgemv for one
// row). Threading is ours, not OpenBLAS's: OpenBLAS's own pthreads and the engine's
// OpenMP threads fight over the cores (measured: decode 7x slower on 2 cores), so OpenBLAS
// runs single-threaded and OpenMP hands out fixed blocks of output columns.
#include "ops/linear.h"

#include <cblas.h>
#include <algorithm>
#include <mutex>

namespace lectern::cpu {
namespace {

void blasSingleThreaded() {
    static std::once_flag once;
    std::call_once(once, [] { openblas_set_num_threads(1); });
}

void linearSlice(float* out, const float* in, const float* weight, int64_t rows, int64_t inF,
                 int64_t outF, int64_t j0, int64_t j1) {
    const float* w = weight + j0 * inF;
    if (rows == 1) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(j1 - j0), blasint(inF), 1.0f, w,
                    blasint(inF), in, 1, 0.0f, out + j0, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(rows), blasint(j1 - j0),
                blasint(inF), 1.0f, in, blasint(inF), w, blasint(inF), 0.0f, out + j0,
                blasint(outF));
}

}  // namespace

void linear_forward(float* out, const float* in, const float* weight, int64_t rows, int64_t inF,
                    int64_t outF) {
    if (rows <= 0 || outF <= 0) return;
    blasSingleThreaded();
    // Fixed blocks of output columns, whatever the thread count: every block is the same
    // BLAS call on any machine and any load, so results are bit-identical across thread
    // budgets (a fork continues exactly like its parent; NUM-3).
    constexpr int64_t kBlock = 256;
    const int64_t blocks = (outF + kBlock - 1) / kBlock;
    // Below ~64k multiply-adds a second thread costs more than it saves.
    const bool parallel = blocks > 1 && rows * inF * outF >= (int64_t(1) << 16);
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t b = 0; b < blocks; ++b) {
        const int64_t j0 = b * kBlock, j1 = std::min(outF, j0 + kBlock);
        linearSlice(out, in, weight, rows, inF, outF, j0, j1);
    }
}

}  // namespace lectern::cpu
