// CUDA twin of engine/cpu/rotary_angles.cpp. One thread per (document, segment of the
// tokens, head, angle): threads of a warp take adjacent (head, angle) pairs, so every
// load of dtheta and every q/k pair access is coalesced. One segment (T <= 256) is the
// CPU's arithmetic operation for operation: add, wrap into [0, 2π), rotate the pair of q
// and k for every rank, and writes the state itself. Longer documents are cut into
// segments of 256 tokens or more (the sequential walk over 16k tokens in 16 segments left
// the GPU 11% occupied): a first launch turns each segment's increments into its own
// running sums (double, wrapped, stored in place), so a segment's start is the state plus
// the last running sum of each earlier segment; the second rotates from there; the last
// segment leaves its final angle in the last token's dtheta slot (read by no other
// thread: the buffer is consumed) and a third launch copies it into the state (in the
// second, other segments still read the incoming state).
#include "common.cuh"
#include "cuda/cuda_ops.h"

namespace lectern::cuda {
namespace {

__device__ void rotatePair(float* __restrict__ v, int i0, int i1, float c, float s) {
    const float u = v[i0], w = v[i1];
    v[i0] = u * c - w * s;
    v[i1] = u * s + w * c;
}

// Segment `seg`'s increments -> their running sums within the segment, wrapped.
__global__ void segmentSums(float* __restrict__ dtheta, int64_t batch, int64_t T, int64_t HA,
                            int64_t segLen, int nSeg) {
    const int64_t gid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (gid >= batch * nSeg * HA) return;
    const int64_t ha = gid % HA, seg = (gid / HA) % nSeg, b = gid / (HA * nSeg);
    const int64_t t0 = seg * segLen, t1 = min(T, t0 + segLen);
    float* inc = dtheta + b * T * HA + ha;
    const double tp = 2.0 * 3.14159265358979323846;
    double run = 0.0;
    for (int64_t t = t0; t < t1; ++t) {
        run += double(inc[t * HA]);
        inc[t * HA] = float(run - tp * floor(run / tp));
    }
}

// thetaOut (fused path): write each token's angle there instead of rotating q and k.
__global__ void rotaryKernel(detail::KDims d, float* __restrict__ q, float* __restrict__ k,
                             float* __restrict__ angleState, float* __restrict__ dtheta,
                             float* __restrict__ thetaOut, int64_t batch, int64_t T, int64_t segLen,
                             int nSeg) {
    const int64_t HA = int64_t(d.H) * d.A;
    const int64_t gid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (gid >= batch * nSeg * HA) return;
    const int64_t ha = gid % HA, seg = (gid / HA) % nSeg, b = gid / (HA * nSeg);
    const int h = int(ha / d.A), a = int(ha % d.A);
    const float twoPi = 2.0f * detail::kPi;
    const int64_t t0 = seg * segLen, t1 = min(T, t0 + segLen);
    float* inc = dtheta + b * T * HA + ha;  // token t at inc[t * HA]
    float theta = angleState[b * HA + ha];
    double base = theta;
    for (int s = 0; s < seg; ++s) base += double(inc[(int64_t(s) * segLen + segLen - 1) * HA]);
    const int i0 = d.mimo ? a : 2 * a, i1 = d.mimo ? a + d.N / 2 : 2 * a + 1;
    const int64_t qkStride = int64_t(d.R) * d.H * d.N;
    for (int64_t t = t0; t < t1; ++t) {
        if (nSeg == 1) {  // the CPU's own sequence
            const float u = theta + inc[t * HA];
            theta = u - twoPi * floorf(u / twoPi);
        } else {
            const double u = base + double(inc[t * HA]), tp = 2.0 * 3.14159265358979323846;
            theta = float(u - tp * floor(u / tp));
        }
        const int64_t row = b * T + t;
        if (thetaOut) {
            thetaOut[row * HA + ha] = theta;
            continue;
        }
        float sn, cs;
        sincosf(theta, &sn, &cs);
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

namespace {

void launchRotary(const ops::Mamba3Dims& d, float* q, float* k, float* angleState, float* dtheta,
                  float* thetaOut, int64_t batch, int64_t T, cudaStream_t s) {
    if (batch <= 0 || T <= 0 || d.A <= 0) return;
    // Segments of >= 256 tokens, at most 64 of them (a thread reads <= 63 earlier sums).
    const int64_t segLen = std::max<int64_t>(256, (T + 63) / 64);
    const int nSeg = int((T + segLen - 1) / segLen);
    const int64_t HA = int64_t(d.H) * d.A;
    if (nSeg > 1)
        segmentSums<<<detail::gridFor(batch * nSeg * HA, 128), 128, 0, s>>>(dtheta, batch, T, HA,
                                                                            segLen, nSeg);
    rotaryKernel<<<detail::gridFor(batch * nSeg * HA, 128), 128, 0, s>>>(
        detail::kdims(d), q, k, angleState, dtheta, thetaOut, batch, T, segLen, nSeg);
    if (nSeg > 1)
        rotaryStateCopy<<<detail::gridFor(batch * HA, 256), 256, 0, s>>>(angleState, dtheta, batch,
                                                                         T, HA);
}

}  // namespace

void rotary_angles_forward(const ops::Mamba3Dims& d, float* q, float* k, float* angleState,
                           float* dtheta, int64_t batch, int64_t T, cudaStream_t s) {
    launchRotary(d, q, k, angleState, dtheta, nullptr, batch, T, s);
}

void rotary_theta_forward(const ops::Mamba3Dims& d, float* angleState, float* dtheta, float* theta,
                          int64_t batch, int64_t T, cudaStream_t s) {
    launchRotary(d, nullptr, nullptr, angleState, dtheta, theta, batch, T, s);
}

}  // namespace lectern::cuda
