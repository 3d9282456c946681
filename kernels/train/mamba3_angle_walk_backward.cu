// The tail of the fused rotary + preprocess backward (mamba3_rotary_preprocess_backward.cu):
// the reverse sum over T of ∂L/∂θ_t, and the preprocess backward's per-head scalars and angle
// columns, which are its only readers, in one walk over dth. Apart, the reverse sum read dth
// twice and wrote ∂L/∂dθ [rows, H, A], which the scalars and the angles kernels then read
// once each (~250 MB a layer at 4 x 4096, 24 heads of 32 angles); here dth is read once and
// ∂L/∂dθ stays in shared memory.
// A block walks the rows of one block of the fused kernel (same partition: a stretch of one
// document's rows), from its last row back, in chunks of kChunk rows. The carry entering a
// block is the sum of the document's later blocks' segment sums (written by the fused
// kernel), added in block order; then per chunk:
//   1. thread c of column (h, a) = c + 256·k adds the chunk's dth to its carry row by row
//      (the loads issued first) and leaves ∂L/∂dθ in shared memory, with dt and tanh(angle);
//   2. a thread per (row, head): Σ_a ∂L/∂dθ·tanh·π and the scalars' columns (dd_dt, dd_A,
//      trap; scalarsBackward's maths); a thread per (row, angle): Σ_h ∂L/∂dθ·dt, the angle
//      column (anglesBackward's maths).
// dtBias: per head, the block's terms in row order, WRITTEN per block for a fixed-order sum.
// Sums in double where the separate kernels sum in double (the carry, the scalars' total).
#include "common.cuh"
#include "mamba3_preprocess_backward_parts.cuh"
#include "mamba3_scalars.cuh"

namespace lectern::train::cuda {
namespace {

namespace det = lectern::cuda::detail;
constexpr int kThreads = 256;
constexpr int kMaxCols = 4;  // columns (h, a) a thread: H·A <= 1024
constexpr int kChunk = 8;
constexpr size_t kMaxShared = 48 * 1024;

struct WalkArgs {
    det::KDims d;
    const float* dtBias;  // the parameter [H]
    const float *proj, *ddt, *dadt, *dtrap, *dth;
    const double* segSums;  // [batch·blocksPerDoc, H·A]
    int64_t T, blocksPerDoc, rowsPerBlock;
    float* dproj;
    float* dtParts;  // [gridDim.x, H], WRITTEN
};

__device__ __forceinline__ float heavyTailSlope(float u) {
    return u >= 0.0f ? 1.0f : 1.0f / ((1.0f - u) * (1.0f - u));
}

// G [kChunk][H·A] and per (row, head) DT, SU, DPDT, DU (floats) and BASE (double), per (row,
// angle) TN and DPA.
size_t sharedBytes(const ops::Mamba3Dims& d) {
    const size_t floats = size_t(kChunk) * size_t(int64_t(d.H) * d.A + 4 * d.H + 2 * d.A);
    return (floats + 1) / 2 * 2 * sizeof(float) + size_t(kChunk) * d.H * sizeof(double);
}

__global__ void __launch_bounds__(kThreads) angleWalkBackward(const WalkArgs w) {
    extern __shared__ double shD[];
    const det::KDims& d = w.d;
    const int H = d.H, nA = d.A, HA = H * nA, tid = threadIdx.x;
    double* BASE = shD;                                      // [kChunk][H]: ddt + dadt·a
    float* G = reinterpret_cast<float*>(BASE + kChunk * H);  // [kChunk][H·A]: ∂L/∂dθ
    float* DT = G + kChunk * HA;                             // [kChunk][H]: dt
    float* SU = DT + kChunk * H;                             // [kChunk][H]: softplus' (σ(u))
    float* DPDT = SU + kChunk * H;                           // [kChunk][H]: dproj's dd_dt, read
    float* DU = DPDT + kChunk * H;                           // [kChunk][H]: the dtBias terms
    float* TN = DU + kChunk * H;    // [kChunk][A]: tanh of the angle columns
    float* DPA = TN + kChunk * nA;  // [kChunk][A]: dproj's angles, read
    const int64_t doc = blockIdx.x / w.blocksPerDoc, seg = blockIdx.x - doc * w.blocksPerDoc;
    const int64_t t0 = doc * w.T + seg * w.rowsPerBlock;
    const int64_t t1 =
        t0 + w.rowsPerBlock < (doc + 1) * w.T ? t0 + w.rowsPerBlock : (doc + 1) * w.T;
    double carry[kMaxCols];
#pragma unroll
    for (int k = 0; k < kMaxCols; ++k) {
        const int col = tid + k * kThreads;
        carry[k] = 0.0;
        if (col < HA)
#pragma unroll 8
            for (int64_t s2 = w.blocksPerDoc - 1; s2 > seg; --s2)
                carry[k] += w.segSums[(doc * w.blocksPerDoc + s2) * HA + col];
    }
    float dtAcc = 0.0f;  // thread h < H: the block's dtBias terms, rows in descending order
    int prevN = 0;
    for (int64_t cEnd = t1; cEnd > t0; cEnd -= kChunk) {
        const int64_t cStart = cEnd - kChunk > t0 ? cEnd - kChunk : t0;
        const int n = int(cEnd - cStart);
        if (tid < H)  // the previous chunk's terms (DU is rewritten after the next barrier)
            for (int tt = prevN - 1; tt >= 0; --tt) dtAcc += DU[tt * H + tid];
        prevN = n;
        // 1. Every global read of the chunk, issued together: dth for the reverse sum, and per
        // (row, head) and (row, angle) what does not depend on it (dd_A and trap done here);
        // the reverse sum's carries after them.
        float v[kMaxCols][kChunk];
#pragma unroll
        for (int k = 0; k < kMaxCols; ++k) {
            const int col = tid + k * kThreads;
#pragma unroll
            for (int tt = 0; tt < kChunk; ++tt)
                v[k][tt] = col < HA && tt < n ? __ldg(w.dth + (cStart + tt) * HA + col) : 0.0f;
        }
        for (int i = tid; i < n * (H + nA); i += kThreads) {
            if (i < n * H) {
                const int tt = i / H, h = i - tt * H;
                const int64_t t = cStart + tt, th = t * H + h;
                const float* row = w.proj + t * d.dInProj;
                float* drow = w.dproj + t * d.dInProj;
                const float u = row[d.offDt + h] + w.dtBias[h], dt = det::softplusF(u);
                const float va = row[d.offA + h];
                const bool clamped = !(-det::heavyTailF(va) < -d.aFloor);
                const float av = clamped ? -d.aFloor : -det::heavyTailF(va);
                DT[i] = dt;
                SU[i] = u > 20.0f ? 1.0f : 1.0f / (1.0f + expf(-u));
                BASE[i] = double(w.ddt[th]) + double(w.dadt[th]) * av;
                DPDT[i] = drow[d.offDt + h];
                if (!clamped) drow[d.offA + h] += -w.dadt[th] * dt * heavyTailSlope(va);
                const float sg = 1.0f / (1.0f + expf(-row[d.offTrap + h]));
                drow[d.offTrap + h] += w.dtrap[th] * sg * (1.0f - sg);
            } else {
                const int ia = i - n * H, tt = ia / nA, a = ia - tt * nA;
                const int64_t at = (cStart + tt) * d.dInProj + d.offAngles + a;
                TN[ia] = tanhf(w.proj[at]);
                DPA[ia] = w.dproj[at];
            }
        }
#pragma unroll
        for (int k = 0; k < kMaxCols; ++k) {
            const int col = tid + k * kThreads;
            if (col >= HA) continue;
#pragma unroll
            for (int tt = kChunk - 1; tt >= 0; --tt)
                if (tt < n) {
                    carry[k] += double(v[k][tt]);
                    G[tt * HA + col] = float(carry[k]);
                }
        }
        __syncthreads();
        // 2. Per (row, head): Σ_a ∂L/∂dθ·tanh·π into dd_dt; per (row, angle): Σ_h ∂L/∂dθ·dt.
        for (int i = tid; i < n * H; i += kThreads) {
            const int tt = i / H, h = i - tt * H;
            // Each head starts at its own angle: the heads' rows sit A floats apart, and at
            // A = 32 the same start would put every thread on one bank.
            double S = 0.0;
            for (int k = 0, a = h % nA; k < nA; ++k, a = a + 1 < nA ? a + 1 : 0)
                S += double(G[tt * HA + h * nA + a]) * TN[tt * nA + a] * det::kPi;
            const float du = float(BASE[i] + S) * SU[i];
            w.dproj[(cStart + tt) * d.dInProj + d.offDt + h] = DPDT[i] + du;
            DU[i] = du;
        }
        for (int i = tid; i < n * nA; i += kThreads) {
            const int tt = i / nA, a = i - tt * nA;
            float sum = 0.0f;
            for (int h = 0; h < H; ++h) sum += G[tt * HA + h * nA + a] * DT[tt * H + h];
            const float tn = TN[i];
            w.dproj[(cStart + tt) * d.dInProj + d.offAngles + a] =
                DPA[i] + sum * det::kPi * (1.0f - tn * tn);
        }
        __syncthreads();
    }
    if (tid < H) {
        for (int tt = prevN - 1; tt >= 0; --tt) dtAcc += DU[tt * H + tid];
        w.dtParts[int64_t(blockIdx.x) * H + tid] = dtAcc;
    }
}

}  // namespace

bool mamba3_angle_walk_fits(const ops::Mamba3Dims& d) {
    return d.A > 0 && d.H > 0 && d.H <= kThreads && int64_t(d.H) * d.A <= kMaxCols * kThreads &&
           sharedBytes(d) <= kMaxShared;
}

cudaError_t mamba3_angle_walk_backward(const ops::Mamba3Dims& dims, const float* dtBiasParam,
                                       const float* proj, const float* ddt, const float* dadt,
                                       const float* dtrap, const float* dth, const double* segSums,
                                       int64_t batch, int64_t T, int64_t blocksPerDoc,
                                       int64_t rowsPerBlock, float* dproj, float* dtParts,
                                       cudaStream_t s) {
    if (batch <= 0 || T <= 0) return cudaSuccess;
    if (!mamba3_angle_walk_fits(dims)) return cudaErrorInvalidValue;
    const WalkArgs w{det::kdims(dims), dtBiasParam, proj,         ddt,          dadt,  dtrap,  dth,
                     segSums,          T,           blocksPerDoc, rowsPerBlock, dproj, dtParts};
    angleWalkBackward<<<unsigned(batch * blocksPerDoc), kThreads, sharedBytes(dims), s>>>(w);
    return cudaGetLastError();
}

}  // namespace lectern::train::cuda
