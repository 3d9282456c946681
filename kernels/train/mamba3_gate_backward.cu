// CUDA twin of training/backward/mamba3_gate_backward.cpp (NOTES-mamba3_gate.md). Per row,
// head and rank, with n_r the (optionally head-wise RMS-normed) y_r, z_r = z ⊙ mimo_z[h, r],
// s_r = silu(z_r), out += mimo_o ⊙ n_r ⊙ s_r:
//   dmimo_o += dout ⊙ n_r ⊙ s_r;  g = dout ⊙ mimo_o;  dn_r = g ⊙ s_r
//   dz_r = g ⊙ n_r ⊙ silu'(z_r);  dz += dz_r ⊙ mimo_z;  dmimo_z += dz_r ⊙ z
//   dn_r -> dy_r (and dnormW) through the RMSNorm backward over the head's P channels.
// One warp per (row, head) (lane owns p = lane + 32j), the R ranks in a loop so that dz is
// summed in registers; blockIdx.y is the head, so a block's parameter gradients are those
// of one head: shared sums, then one atomicAdd per block and element. `written`: dy and dz
// stored instead of added to (the training step's buffers then need no zeroing pass).
#include "common.cuh"
#include "training/cuda/ops_backward_cuda.h"

namespace lectern::train::cuda {
namespace {

namespace det = lectern::cuda::detail;
constexpr int kMaxPJ = 8;  // P <= 256
constexpr int kWarps = 4;

__global__ void gateBackward(det::KDims d, ops::Mamba3GateParams prm, Mamba3GateGrads grads,
                             const float* __restrict__ y, const float* __restrict__ z,
                             int64_t zStride, int64_t rows, const float* __restrict__ dout,
                             float* __restrict__ dy, float* __restrict__ dz, bool written) {
    extern __shared__ float sh[];  // mimoZ [R, P], mimoO [R, P], normW [P] of head h
    const int h = blockIdx.y, P = d.P, R = d.R;
    float* accZ = sh;
    float* accO = sh + R * P;
    float* accN = sh + 2 * R * P;
    for (int i = threadIdx.x; i < (2 * R + 1) * P; i += blockDim.x) sh[i] = 0.0f;
    __syncthreads();
    const int lane = threadIdx.x & 31;
    const float* nw = prm.normW ? prm.normW + int64_t(h) * P : nullptr;
    for (int64_t t = blockIdx.x * int64_t(kWarps) + (threadIdx.x >> 5); t < rows;
         t += int64_t(gridDim.x) * kWarps) {
        const float* go = dout + t * d.dInner + int64_t(h) * P;
        const float* zh = z + t * zStride + int64_t(h) * P;
        float gov[kMaxPJ], zv[kMaxPJ], dzAcc[kMaxPJ];
#pragma unroll
        for (int j = 0; j < kMaxPJ; ++j) {
            const int p = lane + 32 * j;
            gov[j] = p < P ? go[p] : 0.0f;
            zv[j] = p < P ? zh[p] : 0.0f;
            dzAcc[j] = 0.0f;
        }
        for (int r = 0; r < R; ++r) {
            const float* yr = y + ((t * R + r) * d.H + h) * int64_t(P);
            float* dyr = dy + ((t * R + r) * d.H + h) * int64_t(P);
            const int64_t wOff = (int64_t(h) * R + r) * P;
            float yv[kMaxPJ], dn[kMaxPJ];
            float ss = 0.0f;
#pragma unroll
            for (int j = 0; j < kMaxPJ; ++j) {
                const int p = lane + 32 * j;
                yv[j] = p < P ? yr[p] : 0.0f;
                ss += yv[j] * yv[j];
            }
            float scale = 1.0f;
            if (nw != nullptr) scale = 1.0f / sqrtf(det::warpSum(ss) / float(P) + d.eps);
            float gx = 0.0f;
#pragma unroll
            for (int j = 0; j < kMaxPJ; ++j) {
                const int p = lane + 32 * j;
                dn[j] = 0.0f;
                if (p >= P) continue;
                const float nv = nw ? yv[j] * scale * nw[p] : yv[j];
                const float mz = prm.mimoZ ? prm.mimoZ[wOff + p] : 1.0f;
                const float zr = zv[j] * mz;
                const float sg = 1.0f / (1.0f + expf(-zr));
                const float sv = zr * sg;
                const float gv = prm.mimoO ? gov[j] * prm.mimoO[wOff + p] : gov[j];
                if (grads.mimoO) atomicAdd(accO + r * P + p, gov[j] * nv * sv);
                dn[j] = gv * sv;
                const float dzr = gv * nv * sg * (1.0f + zr * (1.0f - sg));
                dzAcc[j] += dzr * mz;
                if (grads.mimoZ) atomicAdd(accZ + r * P + p, dzr * zv[j]);
                if (nw) gx += dn[j] * nw[p] * yv[j];
            }
            if (nw != nullptr) {
                gx = det::warpSum(gx);
                const float c = scale * scale * scale / float(P) * gx;
#pragma unroll
                for (int j = 0; j < kMaxPJ; ++j) {
                    const int p = lane + 32 * j;
                    if (p >= P) continue;
                    const float v = scale * dn[j] * nw[p] - c * yv[j];
                    dyr[p] = written ? v : dyr[p] + v;
                    if (grads.normW) atomicAdd(accN + p, dn[j] * yv[j] * scale);
                }
            } else {
#pragma unroll
                for (int j = 0; j < kMaxPJ; ++j) {
                    const int p = lane + 32 * j;
                    if (p < P) dyr[p] = written ? dn[j] : dyr[p] + dn[j];
                }
            }
        }
        float* dzh = dz + t * zStride + int64_t(h) * P;
#pragma unroll
        for (int j = 0; j < kMaxPJ; ++j) {
            const int p = lane + 32 * j;
            if (p < P) dzh[p] = written ? dzAcc[j] : dzh[p] + dzAcc[j];
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < R * P; i += blockDim.x) {
        const int64_t w = int64_t(h) * R * P + i;  // [H, R, P]: head h's R·P block
        if (grads.mimoZ) atomicAdd(grads.mimoZ + w, accZ[i]);
        if (grads.mimoO) atomicAdd(grads.mimoO + w, accO[i]);
    }
    if (grads.normW)
        for (int i = threadIdx.x; i < P; i += blockDim.x)
            atomicAdd(grads.normW + int64_t(h) * P + i, accN[i]);
}

}  // namespace

cudaError_t mamba3_gate_backward(const ops::Mamba3Dims& dims, const ops::Mamba3GateParams& p,
                                 const Mamba3GateGrads& g, const float* y, const float* z,
                                 int64_t zStride, int64_t rows, const float* dout, float* dy,
                                 float* dz, cudaStream_t s, bool written) {
    if (rows <= 0 || dims.H <= 0) return cudaSuccess;
    if (dims.P > 32 * kMaxPJ) return cudaErrorInvalidValue;
    // Enough blocks per head to fill the device without one per row: at most 256 rows a
    // block's warps share, so the atomics stay few.
    const unsigned bx =
        unsigned(std::clamp<int64_t>((rows + 255) / 256, 1, std::max(1, 1024 / dims.H)));
    const size_t shBytes = size_t(2 * dims.R + 1) * size_t(dims.P) * sizeof(float);
    gateBackward<<<dim3(bx, unsigned(dims.H)), 32 * kWarps, shBytes, s>>>(
        det::kdims(dims), p, g, y, z, zStride, rows, dout, dy, dz, written);
    return cudaGetLastError();
}

}  // namespace lectern::train::cuda
