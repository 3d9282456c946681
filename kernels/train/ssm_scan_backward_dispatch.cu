// ssm_scan_backward_recompute: which backward runs (training/cuda/scan_backward_cuda.h).
// The chunked matrix form wherever it applies (SISO, the benchmark and the ~125M model), the
// sequential token loop otherwise (MIMO, long chunks, big states) and on request
// (LECTERN_SCAN_BWD=sequential: the reference, for comparing and as a fallback).
#include <cstdlib>
#include <cstring>

#include "train/ssm_scan_train.cuh"
#include "training/cuda/scan_backward_cuda.h"

namespace lectern::train::cuda {
namespace {

bool sequentialFromEnv() {
    static const bool v = [] {
        const char* e = std::getenv("LECTERN_SCAN_BWD");
        return e != nullptr && std::strcmp(e, "sequential") == 0;
    }();
    return v;
}

// LECTERN_SCAN_BWD_PRODUCTS=fp32 (read once) keeps the chunked path's fp32 products even where
// the caller asks for the tensor cores (the TF32 / bf16 step). For comparing.
bool fp32ProductsFromEnv() {
    static const bool v = [] {
        const char* e = std::getenv("LECTERN_SCAN_BWD_PRODUCTS");
        return e != nullptr && std::strcmp(e, "fp32") == 0;
    }();
    return v;
}

detail::ChunkProducts products(bool tf32) {
    using detail::ChunkProducts;
    return !tf32 || fp32ProductsFromEnv() ? ChunkProducts::Fp32 : ChunkProducts::Tf32;
}

ScanBackwardPath resolve(const ops::Mamba3Dims& d, int64_t chunk, ScanBackwardPath path) {
    if (path != ScanBackwardPath::Auto) return path;
    return !sequentialFromEnv() && detail::chunkedBackwardSupports(d, chunk)
               ? ScanBackwardPath::Chunked
               : ScanBackwardPath::Sequential;
}

}  // namespace

int64_t ssm_scan_backward_workspace_floats(const ops::Mamba3Dims& d, int64_t batch, int64_t T,
                                           int64_t chunk, ScanBackwardPath path) {
    return resolve(d, chunk, path) == ScanBackwardPath::Chunked
               ? detail::chunkedBackwardWorkspaceFloats(d, batch, T, chunk)
               : detail::sequentialBackwardWorkspaceFloats(d, batch, T, chunk);
}

bool ssm_scan_backward_takes_bf16_qk(const ops::Mamba3Dims& d, int64_t chunk, ScanBackwardPath path,
                                     bool tf32) {
    return chunk > 0 && resolve(d, chunk, path) == ScanBackwardPath::Chunked &&
           detail::chunkedBackwardSupports(d, chunk) &&
           products(tf32) == detail::ChunkProducts::Tf32;
}

cudaError_t ssm_scan_backward_recompute(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in,
                                        const float* starts, int64_t batch, int64_t T,
                                        int64_t chunk, const float* dy, const SsmScanGrads& g,
                                        float* workspace, cudaStream_t s, ScanBackwardPath path,
                                        bool tf32, ScanQkxGrads qkx, const void* qkBf16) {
    if (chunk <= 0 || batch < 0 || T < 0) return cudaErrorInvalidValue;
    if (qkBf16 != nullptr && !ssm_scan_backward_takes_bf16_qk(d, chunk, path, tf32))
        return cudaErrorInvalidValue;
    const bool write = qkx == ScanQkxGrads::Write;
    if (resolve(d, chunk, path) == ScanBackwardPath::Chunked)
        return detail::chunkedBackward(d, in, starts, batch, T, chunk, dy, g, workspace, s,
                                       products(tf32), write, qkBf16);
    if (write && batch * T > 0 &&
        detail::sequentialBackwardWorkspaceFloats(d, batch, T, chunk) > 0) {
        // The token loop adds: zero first (dx's rows keep their columns past H·P).
        const size_t qkBytes = size_t(batch * T) * size_t(d.R) * size_t(d.H) * size_t(d.N) * 4;
        if (cudaError_t e = cudaMemsetAsync(g.dq, 0, qkBytes, s); e != cudaSuccess) return e;
        if (cudaError_t e = cudaMemsetAsync(g.dk, 0, qkBytes, s); e != cudaSuccess) return e;
        if (cudaError_t e = cudaMemset2DAsync(g.dx, size_t(in.xStride) * 4, 0,
                                              size_t(d.H) * size_t(d.P) * 4, size_t(batch * T), s);
            e != cudaSuccess)
            return e;
    }
    return detail::sequentialBackward(d, in, starts, batch, T, chunk, dy, g, workspace, s);
}

}  // namespace lectern::train::cuda
