// The training step's scan checkpoints out of the engine's chunked forward (ops_backward_cuda.h
// gather_chunk_states): one launch where there were B·H cudaMemcpy2DAsync calls a layer
// (96 at 4 × 4096 with H 24: 2,304 small copies a step).
#include "common.cuh"
#include "training/cuda/ops_backward_cuda.h"

namespace lectern::train::cuda {
namespace {

// grid (H, nChk, B); the block copies one P·N state, 16 bytes a thread where it can.
__global__ void gatherKernel(const float* __restrict__ states, int64_t H, int64_t nC, int64_t PN,
                             int64_t stride, int64_t nChk, bool vec4, float* __restrict__ hs) {
    const int64_t h = blockIdx.x, c = blockIdx.y, b = blockIdx.z;
    const float* src = states + ((b * H + h) * nC + c * stride) * PN;
    float* dst = hs + ((b * nChk + c) * H + h) * PN;
    if (vec4) {
        const auto* s4 = reinterpret_cast<const float4*>(src);
        auto* d4 = reinterpret_cast<float4*>(dst);
        for (int64_t i = threadIdx.x; i < PN / 4; i += blockDim.x) d4[i] = s4[i];
    } else {
        for (int64_t i = threadIdx.x; i < PN; i += blockDim.x) dst[i] = src[i];
    }
}

}  // namespace

cudaError_t gather_chunk_states(const float* states, int64_t batch, int64_t H, int64_t nC,
                                int64_t PN, int64_t stride, int64_t nChk, float* hs,
                                cudaStream_t s) {
    if (batch <= 0 || H <= 0 || nChk <= 0 || PN <= 0) return cudaSuccess;
    if (stride < 1 || (nChk - 1) * stride >= nC) return cudaErrorInvalidValue;
    const bool vec4 = PN % 4 == 0 && reinterpret_cast<uintptr_t>(states) % 16 == 0 &&
                      reinterpret_cast<uintptr_t>(hs) % 16 == 0;
    gatherKernel<<<dim3(unsigned(H), unsigned(nChk), unsigned(batch)), 256, 0, s>>>(
        states, H, nC, PN, stride, nChk, vec4, hs);
    return cudaGetLastError();
}

}  // namespace lectern::train::cuda
