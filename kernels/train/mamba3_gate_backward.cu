// CUDA twin of training/backward/mamba3_gate_backward.cpp (NOTES-mamba3_gate.md). Per row,
// head and rank, with n_r the (optionally head-wise RMS-normed) y_r, z_r = z ⊙ mimo_z[h, r],
// s_r = silu(z_r), out += mimo_o ⊙ n_r ⊙ s_r:
//   dmimo_o += dout ⊙ n_r ⊙ s_r;  g = dout ⊙ mimo_o;  dn_r = g ⊙ s_r
//   dz_r = g ⊙ n_r ⊙ silu'(z_r);  dz += dz_r ⊙ mimo_z;  dmimo_z += dz_r ⊙ z
//   dn_r -> dy_r (and dnormW) through the RMSNorm backward over the head's P channels.
// One warp per (row, head) (lane owns p = lane + 32j), the R ranks in a loop so that dz is
// summed in registers; blockIdx.y is the head, so a block's parameter gradients are those
// of one head: shared sums, then one atomicAdd per block and element. SISO without those
// parameters: gatePlainBackward, a flat pass. `written`: dy and dz
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

// SISO without the head norm or the MIMO weights (the ~125M model): nothing is summed over a
// head, so a flat pass, four elements a thread with 16-byte loads and stores, instead of a
// warp per (row, head) with the head's rows in a loop. Same maths as gateBackward there.
__device__ __forceinline__ void plainGrad(float g, float yv, float zv, float& dyv, float& dzv) {
    const float sg = 1.0f / (1.0f + expf(-zv));
    dyv = g * (zv * sg);
    dzv = g * yv * sg * (1.0f + zv * (1.0f - sg));
}

__global__ void gatePlainBackward(const float4* __restrict__ y, const float* __restrict__ z,
                                  int64_t zStride, int64_t rows, int64_t cols4,
                                  const float4* __restrict__ dout, float4* __restrict__ dy,
                                  float* __restrict__ dz, bool written) {
    const int64_t n = rows * cols4;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t t = i / cols4, c = i - t * cols4;
        const float4 g = dout[i], yv = y[i];
        const float4 zv = reinterpret_cast<const float4*>(z + t * zStride)[c];
        float4 a, b;
        plainGrad(g.x, yv.x, zv.x, a.x, b.x);
        plainGrad(g.y, yv.y, zv.y, a.y, b.y);
        plainGrad(g.z, yv.z, zv.z, a.z, b.z);
        plainGrad(g.w, yv.w, zv.w, a.w, b.w);
        float4* dzp = reinterpret_cast<float4*>(dz + t * zStride) + c;
        if (!written) {
            const float4 oy = dy[i], oz = *dzp;
            a = {a.x + oy.x, a.y + oy.y, a.z + oy.z, a.w + oy.w};
            b = {b.x + oz.x, b.y + oz.y, b.z + oz.z, b.w + oz.w};
        }
        dy[i] = a;
        *dzp = b;
    }
}

bool aligned16(const void* p) {
    return (reinterpret_cast<uintptr_t>(p) & 15) == 0;
}

}  // namespace

cudaError_t mamba3_gate_backward(const ops::Mamba3Dims& dims, const ops::Mamba3GateParams& p,
                                 const Mamba3GateGrads& g, const float* y, const float* z,
                                 int64_t zStride, int64_t rows, const float* dout, float* dy,
                                 float* dz, cudaStream_t s, bool written) {
    if (rows <= 0 || dims.H <= 0) return cudaSuccess;
    if (dims.P > 32 * kMaxPJ) return cudaErrorInvalidValue;
    const int64_t inner = dims.dInner();
    if (!p.mimoZ && !p.mimoO && !p.normW && !g.mimoZ && !g.mimoO && !g.normW && dims.R == 1 &&
        inner % 4 == 0 && zStride % 4 == 0 && aligned16(y) && aligned16(z) && aligned16(dout) &&
        aligned16(dy) && aligned16(dz)) {
        const int64_t n4 = rows * inner / 4;
        const unsigned blocks = unsigned(std::min<int64_t>(det::gridFor(n4, 256), 8192));
        gatePlainBackward<<<blocks, 256, 0, s>>>(
            reinterpret_cast<const float4*>(y), z, zStride, rows, inner / 4,
            reinterpret_cast<const float4*>(dout), reinterpret_cast<float4*>(dy), dz, written);
        return cudaGetLastError();
    }
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
