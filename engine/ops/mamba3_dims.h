// The dimensions every Mamba-3 mixer op takes, and the in_proj row layout they share.
// Kept in one small struct so the CPU backend and the CUDA kernels see the same numbers.
#pragma once

#include <cstdint>

namespace lectern::ops {

// H heads of P channels (d_inner = H*P), state size N, MIMO rank R (1 for SISO), G groups
// of B/C (H % G == 0), A rotary angles per head.
struct Mamba3Dims {
    int H = 0, P = 0, N = 0, R = 1, G = 1, A = 0;
    bool mimo = false;     // MIMO pairs element i with i + N/2; SISO pairs (2i, 2i+1)
    float aFloor = 1e-4f;  // A is clamped to at most -aFloor
    float eps = 1e-5f;     // RMSNorm epsilon (B/C norms, out-proj norm)

    int64_t dInner() const { return int64_t(H) * P; }
    // in_proj output row, in this order: z, x, B (r,g,n), C (r,g,n), dd_dt, dd_A, trap, angles.
    int64_t offZ() const { return 0; }
    int64_t offX() const { return dInner(); }
    int64_t offB() const { return 2 * dInner(); }
    int64_t offC() const { return offB() + int64_t(R) * G * N; }
    int64_t offDt() const { return offC() + int64_t(R) * G * N; }
    int64_t offA() const { return offDt() + H; }
    int64_t offTrap() const { return offA() + H; }
    int64_t offAngles() const { return offTrap() + H; }
    int64_t dInProj() const { return offAngles() + A; }
};

}  // namespace lectern::ops
