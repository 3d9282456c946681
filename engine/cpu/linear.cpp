// CPU reference for linear_forward (engine/ops/linear.h): OpenBLAS sgemm (sgemv for one
// row). Threading is ours, not OpenBLAS's: OpenBLAS's own pthreads and the engine's
// OpenMP threads fight over the cores (measured: decode 7x slower on 2 cores), so OpenBLAS
// runs single-threaded and OpenMP splits the output columns into one slice per thread.
// Each slice is an independent GEMM, so results do not depend on the thread count.
#include "ops/linear.h"

#include <cblas.h>
#include <omp.h>

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
    // Below ~64k multiply-adds a second thread costs more than it saves.
    const bool parallel = rows * inF * outF >= (int64_t(1) << 16) && outF >= 32;
    const int threads = parallel ? omp_get_max_threads() : 1;
    if (threads <= 1) {
        linearSlice(out, in, weight, rows, inF, outF, 0, outF);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        const int n = omp_get_num_threads(), i = omp_get_thread_num();
        // Slices rounded to 16 columns so each thread's writes stay on its own cache lines.
        const int64_t per = (outF + n - 1) / n;
        const int64_t step = (per + 15) / 16 * 16;
        const int64_t j0 = std::min(outF, i * step), j1 = std::min(outF, j0 + step);
        if (j1 > j0) linearSlice(out, in, weight, rows, inF, outF, j0, j1);
    }
}

}  // namespace lectern::cpu
