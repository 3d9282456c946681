// CUDA twin of training/backward/gated_mlp_backward.cpp. The hidden h = in · fc1ᵀ [rows, 2F]
// is recomputed (one GEMM) rather than saved. With a = h[:F], g = h[F:], s = silu(g),
// y = a ⊙ s:  dfc2 += doutᵀ y;  dy = dout · fc2;  da = dy ⊙ s;  dg = dy ⊙ a ⊙ silu'(g),
// silu'(g) = σ(g)·(1 + g·(1 − σ(g))); then linear_backward for fc1 with dh = [da, dg].
// scratch [rows, 3F]: h in the first 2F·rows floats (overwritten by dh in place: one thread
// reads a and g and writes da and dg), y and then dy in the rest.
#include <cublas_v2.h>

#include "common.cuh"
#include "training/cuda/ops_backward_cuda.h"

namespace lectern::train::cuda {
namespace {

namespace det = lectern::cuda::detail;

__global__ void gatedProduct(float* __restrict__ y, const float* __restrict__ h, int64_t rows,
                             int64_t F) {
    const int64_t n = rows * F;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t r = i / F, c = i - r * F;
        const float a = h[r * 2 * F + c], g = h[r * 2 * F + F + c];
        y[i] = a * (g / (1.0f + expf(-g)));
    }
}

// h [rows, 2F] -> dh in place, from dy [rows, F].
__global__ void gatedProductBackward(float* __restrict__ h, const float* __restrict__ dy,
                                     int64_t rows, int64_t F) {
    const int64_t n = rows * F;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t r = i / F, c = i - r * F;
        float* hr = h + r * 2 * F;
        const float a = hr[c], g = hr[F + c];
        const float sg = 1.0f / (1.0f + expf(-g));
        const float gy = dy[i];
        hr[c] = gy * g * sg;
        hr[F + c] = gy * a * sg * (1.0f + g * (1.0f - sg));
    }
}

}  // namespace

int gated_mlp_backward(cublasHandle_t h, float* din, float* dfc1, float* dfc2, const float* dout,
                       const float* in, const float* fc1, const float* fc2, int64_t rows, int64_t D,
                       int64_t F, float* scratch, cudaStream_t s, bool tf32) {
    if (rows <= 0 || D <= 0 || F <= 0) return 0;
    float* hb = scratch;                 // [rows, 2F]
    float* yb = scratch + rows * 2 * F;  // [rows, F]
    cudaStream_t cur = nullptr;
    cublasGetStream(h, &cur);
    if (cur != s) cublasSetStream(h, s);
    cublasSetMathMode(h, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH);
    const float one = 1.0f, zero = 0.0f;
    // hᵀ [2F, rows] = fc1 (col-major view [D, 2F], transposed) · inᵀ [D, rows]
    cublasStatus_t st = cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, int(2 * F), int(rows), int(D),
                                    &one, fc1, int(D), in, int(D), &zero, hb, int(2 * F));
    if (st != CUBLAS_STATUS_SUCCESS) return int(st);
    const unsigned blocks = unsigned(std::min<int64_t>(det::gridFor(rows * F, 256), 8192));
    gatedProduct<<<blocks, 256, 0, s>>>(yb, hb, rows, F);
    // fc2: out = y · fc2ᵀ, fc2 [D, F]: dfc2 += doutᵀ y only (din of this GEMM is dy, WRITTEN
    // below into yb once dfc2 has consumed y; stream order keeps the two apart).
    if (int e = linear_backward(h, nullptr, 0, dfc2, dout, yb, F, fc2, rows, F, D, s, tf32))
        return e;
    // dyᵀ [F, rows] = fc2ᵀ (col-major view of fc2 is [F, D]) · doutᵀ [D, rows]
    st = cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, int(F), int(rows), int(D), &one, fc2, int(F),
                     dout, int(D), &zero, yb, int(F));
    if (st != CUBLAS_STATUS_SUCCESS) return int(st);
    gatedProductBackward<<<blocks, 256, 0, s>>>(hb, yb, rows, F);
    return linear_backward(h, din, D, dfc1, hb, in, D, fc1, rows, D, 2 * F, s, tf32);
}

}  // namespace lectern::train::cuda
