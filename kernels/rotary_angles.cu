// CUDA twin of engine/cpu/rotary_angles.cpp. One thread per (document, segment of the
// tokens, head, angle): threads of a warp take adjacent (head, angle) pairs, so every
// load of dtheta and every q/k pair access is coalesced. A thread starts from the angle
// state plus the sum of all increments before its segment (in double, then wrapped; the
// segments' sums are read again by each later segment: ~T/2 extra reads per thread, so
// segments are long), then runs the CPU's sequence for its segment exactly: add, wrap
// into [0, 2π), rotate the pair of q and k for every rank. One segment (T <= 1024) is the
// CPU's arithmetic operation for operation and writes the state itself; with several,
// the last segment leaves its final angle in the last token's dtheta slot (read by no
// other thread: the buffer is consumed) and a second launch copies it into the state
// (in the first, other segments still read the incoming state).
#include "common.cuh"
#include "cuda/cuda_ops.h"

namespace lectern::cuda {
namespace {

__device__ void rotatePair(float* __restrict__ v, int i0, int i1, float c, float s) {
    const float u = v[i0], w = v[i1];
    v[i0] = u * c - w * s;
    v[i1] = u * s + w * c;
}

__global__ void rotaryKernel(detail::KDims d, float* __restrict__ q, float* __restrict__ k,
                             float* __restrict__ angleState, float* __restrict__ dtheta,
                             int64_t batch, int64_t T, int64_t segLen, int nSeg) {
    const int64_t HA = int64_t(d.H) * d.A;
    const int64_t gid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (gid >= batch * nSeg * HA) return;
    const int64_t ha = gid % HA, seg = (gid / HA) % nSeg, b = gid / (HA * nSeg);
    const int h = int(ha / d.A), a = int(ha % d.A);
    const float twoPi = 2.0f * detail::kPi;
    const int64_t t0 = seg * segLen, t1 = min(T, t0 + segLen);
    float* inc = dtheta + b * T * HA + ha;  // token t at inc[t * HA]
    float theta = angleState[b * HA + ha];
    if (seg > 0) {
        double base = theta;
        for (int64_t t = 0; t < t0; ++t) base += double(inc[t * HA]);
        const double tp = 2.0 * 3.14159265358979323846;
        theta = float(base - tp * floor(base / tp));
    }
    const int i0 = d.mimo ? a : 2 * a, i1 = d.mimo ? a + d.N / 2 : 2 * a + 1;
    const int64_t qkStride = int64_t(d.R) * d.H * d.N;
    for (int64_t t = t0; t < t1; ++t) {
        const float u = theta + inc[t * HA];
        theta = u - twoPi * floorf(u / twoPi);
        float sn, cs;
        sincosf(theta, &sn, &cs);
        const int64_t row = b * T + t;
        for (int r = 0; r < d.R; ++r) {
            const int64_t off = row * qkStride + (int64_t(r) * d.H + h) * d.N;
            rotatePair(q + off, i0, i1, cs, sn);
            rotatePair(k + off, i0, i1, cs, sn);
        }
    }
    if (seg != nSeg - 1) return;
    if (nSeg == 1)
        angleState[b * HA + ha] = theta;
    else
        inc[(T - 1) * HA] = theta;
}

__global__ void rotaryStateCopy(float* angleState, const float* dtheta, int64_t batch, int64_t T,
                                int64_t HA) {
    const int64_t gid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (gid >= batch * HA) return;
    const int64_t b = gid / HA, ha = gid % HA;
    angleState[gid] = dtheta[(b * T + T - 1) * HA + ha];
}

}  // namespace

void rotary_angles_forward(const ops::Mamba3Dims& d, float* q, float* k, float* angleState,
                           float* dtheta, int64_t batch, int64_t T, cudaStream_t s) {
    if (batch <= 0 || T <= 0 || d.A <= 0) return;
    // Segments of >= 1024 tokens and at most 16 of them: <= 8× re-reads of dtheta.
    const int64_t segLen = std::max<int64_t>(1024, (T + 15) / 16);
    const int nSeg = int((T + segLen - 1) / segLen);
    const int64_t HA = int64_t(d.H) * d.A;
    rotaryKernel<<<detail::gridFor(batch * nSeg * HA, 128), 128, 0, s>>>(
        detail::kdims(d), q, k, angleState, dtheta, batch, T, segLen, nSeg);
    if (nSeg > 1)
        rotaryStateCopy<<<detail::gridFor(batch * HA, 256), 256, 0, s>>>(angleState, dtheta, batch,
                                                                         T, HA);
}

}  // namespace lectern::cuda
