// The training scan's SEQUENTIAL backward (CUDA twin of the CPU ssm_scan_backward_recompute in
// training/backward/ssm_scan_backward.cpp; maths: training/NOTES-ssm_scan.md): the reference
// and fallback path of ssm_scan_backward_recompute (ssm_scan_backward_dispatch.cu), the only
// one for MIMO; SISO takes the chunked matrix form (ssm_scan_backward_chunked.cu). One block
// per (head, batch row), the state layout of ssm_scan_train.cuh, dh (the gradient of the
// current state) in registers, carried from chunk to chunk. Chunks go last to first; each
// is replayed from the forward's checkpoint, saving every state of a sub-chunk of `sub`
// tokens to a global workspace, and the backward through time over those tokens reads them
// back (h_t for dq, h_{t−1} for dα). sub = kSubChunk (64: the whole chunk of
// model_train, one replay); a shorter sub (LECTERN_SCAN_SUBCHUNK, read once) replays in
// two levels: the whole chunk saving the state entering each sub-chunk, then each
// sub-chunk, last first, again. Two levels keep the re-read states of all resident blocks
// within the L2 cache, but the kernel is bound by its per-token latency, not by memory:
// on the H100, sub 8 took 357 ms and sub 64 293 ms at 8 × 4096 tokens × 24 heads
// (training/NOTES-cuda.md). Workspace order is thread-private (every access coalesced, no
// barrier: each thread reads back only what it wrote).
//
// Per token the sums over n (⟨dh_p, k⟩ for dv, dβ, dγ) are warp shuffles; the sums over p
// (dq, dk: a column per lane, rows per warp) go through shared memory, double-buffered so
// that one barrier per token suffices. Every per-token gradient is written by its own
// block once, without atomics; dD and dmimo_x (sums over batch rows too) are written as
// per-block partials and summed over rows in a fixed order by a second kernel, so the
// result is deterministic (float atomics would make it depend on block order).
//
// Split into groups of rows (N > 64 with more than 16 rows, unless LECTERN_SCAN_BWD_GROUPS=1):
// the rows p are independent in the recurrence and in dh, so ⌈P/16⌉ blocks share a
// (row, head), each with 16 rows (8 state elements a thread instead of 32, 3 blocks a
// multiprocessor instead of 1). Their sums over p (dq, dk, dα, dβ, dγ) become per-group
// token partials, stored without a read-modify-write, and sumTokenPartials adds them up in
// group order afterwards: still no atomics, still deterministic.
#include <cstdlib>

#include "train/ssm_scan_train.cuh"
#include "training/cuda/scan_backward_cuda.h"

namespace lectern::train::cuda {
namespace {

using namespace detail;
using lectern::cuda::detail::warpSum;

// Per-warp partials of one token: dq [R, N], dk (γ term) [R, N], dk of token t − 1
// (β term) [R, N], then dα, dβ, dγ.
__host__ __device__ inline int redFloats(int RN) {
    return 3 * RN + 4;
}
__host__ __device__ inline int redBufFloats(int RN) {
    return kWarps * redFloats(RN) + 8;  // + the token's coefficients
}

// dα, dβ, dγ of one (row, head) through α = e^{adt}, β = (1 − trap)·dt·α, γ = trap·dt.
__device__ inline void addScalarGrads(const SsmScanGrads& g, int64_t th, float dA, float dB,
                                      float dG, const Coef& c) {
    g.dadt[th] += dA * c.alpha + dB * c.beta;
    g.ddt[th] += dB * (1.0f - c.trap) * c.alpha + dG * c.trap;
    g.dtrap[th] += -dB * c.dt * c.alpha + dG * c.dt;
}

struct Smem {
    float *ring, *red, *carry, *dvPend, *mx, *dmx, *dxb, *misc;
};

__host__ __device__ inline size_t smemFloats(int R, int P, int N, Smem* s, float* base) {
    const int slotF = slotLayout(R, P, N).floats(), RN = R * N, RP = R * P;
    size_t o = 0;
    auto take = [&](float*& p, size_t n) {
        if (s) p = base + o;
        o += n;
    };
    Smem dummy{};
    Smem& m = s ? *s : dummy;
    take(m.ring, size_t(3) * slotF);
    take(m.red, size_t(2) * redBufFloats(RN));
    take(m.carry, size_t(RN));
    take(m.dvPend, size_t(RP));
    take(m.mx, size_t(RP));
    take(m.dmx, size_t(RP));
    take(m.dxb, size_t(P));
    take(m.misc, size_t(kWarps));
    return o;
}

// rpw: rows a warp owns in one block; groups: blocks a (row, head) is split into along p
// (each owning kWarps·rpw rows: fewer registers and more blocks, see launchFor below).
struct Geometry {
    int rpw, stateF, sub, maxSub, groups;
    int64_t nChk, blockStateFloats;
};

// Per token and head, what a group adds to the sums over rows p: dq [R·N], dk (γ term plus
// the β carry) [R·N], then dα, dβ, dγ, then dx [P] (only the group's own rows written).
// Summed over groups in order by sumTokenPartials, which also adds dx from each row's group.
__host__ __device__ inline int tokPartFloats(int RN, int P) {
    return 2 * RN + 3 + P;
}

template <int J, int MaxRpw>
struct Block {
    const KDims& d;
    const ops::SsmScanInputs& in;
    const SsmScanGrads& g;
    const Geometry& geo;
    const Smem& sm;
    const SlotLayout L;
    const TokenLoader& ld;
    const int h, lane, warp;
    const int64_t b, T;
    const int p0;    // this block's first row (its group's)
    float* tokPart;  // groups > 1: [groups, batch·T, H, tokPartFloats] at this group
    __device__ bool rowOk(int i, int& p) const {
        p = p0 + warp + kWarps * i;
        return i < geo.rpw && p < d.P;
    }
    __device__ int slotF() const { return L.floats(); }

    __device__ void saveState(float* slot, const float (&hs)[MaxRpw][J]) const {
#pragma unroll
        for (int i = 0; i < MaxRpw; ++i) {
            int p;
            if (!rowOk(i, p)) continue;
#pragma unroll
            for (int j = 0; j < J; ++j)
                if (lane + 32 * j < d.N) slot[(i * J + j) * kThreads + threadIdx.x] = hs[i][j];
        }
    }
    __device__ void loadState(const float* slot, float (&hs)[MaxRpw][J]) const {
#pragma unroll
        for (int i = 0; i < MaxRpw; ++i) {
            int p;
            const bool ok = rowOk(i, p);
#pragma unroll
            for (int j = 0; j < J; ++j)
                hs[i][j] =
                    ok && lane + 32 * j < d.N ? slot[(i * J + j) * kThreads + threadIdx.x] : 0.0f;
        }
    }
    // The forward's checkpoint of chunk c (natural [P, N] layout).
    __device__ void loadStart(const float* starts, int64_t c, float (&hs)[MaxRpw][J]) const {
        const float* S = starts + ((b * geo.nChk + c) * d.H + h) * int64_t(d.P) * d.N;
#pragma unroll
        for (int i = 0; i < MaxRpw; ++i) {
            int p;
            const bool ok = rowOk(i, p);
#pragma unroll
            for (int j = 0; j < J; ++j)
                hs[i][j] = ok && lane + 32 * j < d.N ? S[int64_t(p) * d.N + lane + 32 * j] : 0.0f;
        }
    }

    // Advances hs through tokens t0 .. t1 − 1; after token t with (t + 1 − t0) % every == 0
    // it saves hs to store0 + (t + 1 − t0) / every · stateF.
    __device__ void replay(float (&hs)[MaxRpw][J], int64_t t0, int64_t t1, int every,
                           float* store0) const {
        float reg[kMaxLoad];
        __syncthreads();  // the ring's previous readers are done
        ld.load(t0 - 1, kRecurrence, reg);
        ld.store(sm.ring + ringSlot(t0 - 1) * slotF(), reg, sm.mx);
        ld.load(t0, kRecurrence, reg);
        ld.store(sm.ring + ringSlot(t0) * slotF(), reg, sm.mx);
        __syncthreads();
        int since = 0, saved = 0;  // tokens since the last save, saves so far
        for (int64_t t = t0; t < t1; ++t) {
            if (t + 1 < t1) ld.load(t + 1, kRecurrence, reg);
            advance<J, MaxRpw>(d, hs, sm.ring + ringSlot(t) * slotF(),
                               sm.ring + ringSlot(t - 1) * slotF(), L, geo.rpw, p0);
            if (++since == every) {
                since = 0;
                saveState(store0 + ++saved * int64_t(geo.stateF), hs);
            }
            if (t + 1 < t1) ld.store(sm.ring + ringSlot(t + 1) * slotF(), reg, sm.mx);
            __syncthreads();
        }
    }

    // Backward through tokens s1 − 1 .. s0; lvl2 slot m holds h_{s0 − 1 + m}.
    __device__ void backward(float (&dh)[MaxRpw][J], int64_t s0, int64_t s1, const float* lvl2,
                             float& dDacc) const {
        const int RN = d.R * d.N, rf = redFloats(RN), rbf = redBufFloats(RN);
        const int64_t qk = int64_t(RN) * d.H;
        const float Dh = in.D[h];
        float reg[kMaxLoad];
        __syncthreads();
        ld.load(s1 - 1, kWithQ | kWithGrad, reg);
        ld.store(sm.ring + ringSlot(s1 - 1) * slotF(), reg, sm.mx);
        ld.load(s1 - 2, kWithQ | kWithGrad, reg);
        ld.store(sm.ring + ringSlot(s1 - 2) * slotF(), reg, sm.mx);
        __syncthreads();
        for (int64_t t = s1 - 1; t >= s0; --t) {
            const bool prefetch = t - 2 >= s0 - 1;  // token t − 2: the previous of t − 1
            if (prefetch) ld.load(t - 2, kWithQ | kWithGrad, reg);
            const float* cur = sm.ring + ringSlot(t) * slotF();
            const float* prv = sm.ring + ringSlot(t - 1) * slotF();
            float* rb = sm.red + (t & 1) * rbf;
            const Coef c = coefOf(cur, L);
            const int64_t row = b * T + t;
            // Split into groups, this block's sums go to its slot of the token partials
            // (plain stores: no read-modify-write of global memory waits in the token loop).
            float* tp =
                tokPart ? tokPart + (row * d.H + h) * int64_t(tokPartFloats(RN, d.P)) : nullptr;
            const float* hT = lvl2 + (t - s0 + 1) * int64_t(geo.stateF) + threadIdx.x;
            const float* hP = lvl2 + (t - s0) * int64_t(geo.stateF) + threadIdx.x;
            // dh += Σ_r dy_r q_rᵀ (y_t reads h_t); dα = ⟨dh, h_{t−1}⟩.
            float dAl = 0.0f;
#pragma unroll
            for (int i = 0; i < MaxRpw; ++i) {
                int p;
                if (!rowOk(i, p)) continue;
#pragma unroll
                for (int j = 0; j < J; ++j) {
                    const int n = lane + 32 * j;
                    if (n >= d.N) continue;
                    float gq = 0.0f;
                    for (int r = 0; r < d.R; ++r)
                        gq += cur[L.dy() + r * d.P + p] * cur[L.q() + r * d.N + n];
                    dh[i][j] += gq;
                    dAl += dh[i][j] * hP[(i * J + j) * kThreads];
                }
            }
            float dBe = 0.0f, dGa = 0.0f;
            for (int r = 0; r < d.R; ++r) {
                float aq[J], ak[J], akp[J];
#pragma unroll
                for (int j = 0; j < J; ++j) aq[j] = ak[j] = akp[j] = 0.0f;
#pragma unroll
                for (int i = 0; i < MaxRpw; ++i) {
                    int p;
                    if (!rowOk(i, p)) continue;
                    const float dyv = cur[L.dy() + r * d.P + p], vv = cur[L.v() + r * d.P + p];
                    const float vpv = prv[L.v() + r * d.P + p];
                    float sk = 0.0f, skp = 0.0f;
#pragma unroll
                    for (int j = 0; j < J; ++j) {
                        const int n = lane + 32 * j;
                        if (n >= d.N) continue;
                        const float x = dh[i][j];
                        aq[j] += hT[(i * J + j) * kThreads] * dyv;
                        ak[j] += x * vv;
                        akp[j] += x * vpv;
                        sk += x * cur[L.k() + r * d.N + n];
                        skp += x * prv[L.k() + r * d.N + n];
                    }
                    sk = warpSum(sk);
                    skp = warpSum(skp);
                    dGa += sk * vv;
                    dBe += skp * vpv;
                    if (lane == 0) {  // the values' gradients: this warp owns row p
                        const int e = r * d.P + p;
                        const float dv = sm.dvPend[e] + Dh * dyv + c.gamma * sk;
                        sm.dvPend[e] = c.beta * skp;  // dv_{t−1}'s β term
                        sm.dmx[e] += dv * cur[L.x() + p];
                        sm.dxb[p] = (r == 0 ? 0.0f : sm.dxb[p]) + dv * sm.mx[e];
                        dDacc += dyv * vv;
                    }
                }
#pragma unroll
                for (int j = 0; j < J; ++j) {
                    const int n = lane + 32 * j;
                    if (n >= d.N) continue;
                    float* w = rb + warp * rf + r * d.N + n;
                    w[0] = aq[j];
                    w[RN] = ak[j];
                    w[2 * RN] = akp[j];
                }
            }
            dAl = warpSum(dAl);
            if (lane == 0) {
                rb[warp * rf + 3 * RN] = dAl;
                rb[warp * rf + 3 * RN + 1] = dBe;
                rb[warp * rf + 3 * RN + 2] = dGa;
#pragma unroll
                for (int i = 0; i < MaxRpw; ++i) {
                    int p;
                    if (!rowOk(i, p)) continue;
                    if (tp)
                        tp[2 * RN + 3 + p] = sm.dxb[p];
                    else
                        g.dx[row * in.xStride + int64_t(h) * d.P + p] += sm.dxb[p];
                }
            }
            if (threadIdx.x == 0) {
                float* hd = rb + kWarps * rf;
                hd[0] = c.alpha, hd[1] = c.beta, hd[2] = c.gamma, hd[3] = c.dt, hd[4] = c.trap;
            }
            // dh ← α dh: now the gradient of h_{t−1}.
#pragma unroll
            for (int i = 0; i < MaxRpw; ++i)
#pragma unroll
                for (int j = 0; j < J; ++j) dh[i][j] *= c.alpha;
            if (prefetch) ld.store(sm.ring + ringSlot(t - 2) * slotF(), reg, sm.mx);
            __syncthreads();
            // The sums over warps (rows p). Element e of dk is always reduced by the same
            // thread, which keeps token t − 1's β term in carry[e] until the next token.
            const float* hd = rb + kWarps * rf;
            for (int e = threadIdx.x; e < RN; e += kThreads) {
                float sq = 0.0f, sk = 0.0f, skp = 0.0f;
                for (int w = 0; w < kWarps; ++w) {
                    sq += rb[w * rf + e];
                    sk += rb[w * rf + RN + e];
                    skp += rb[w * rf + 2 * RN + e];
                }
                if (tp) {
                    tp[e] = sq;
                    tp[RN + e] = hd[2] * sk + sm.carry[e];
                } else {
                    const int64_t off = row * qk + (int64_t(e / d.N) * d.H + h) * d.N + e % d.N;
                    g.dq[off] += sq;
                    g.dk[off] += hd[2] * sk + sm.carry[e];
                }
                sm.carry[e] = hd[1] * skp;
            }
            if (threadIdx.x == kThreads - 1) {
                float dA = 0.0f, dB = 0.0f, dG = 0.0f;
                for (int w = 0; w < kWarps; ++w) {
                    dA += rb[w * rf + 3 * RN];
                    dB += rb[w * rf + 3 * RN + 1];
                    dG += rb[w * rf + 3 * RN + 2];
                }
                if (tp)
                    tp[2 * RN] = dA, tp[2 * RN + 1] = dB, tp[2 * RN + 2] = dG;
                else
                    addScalarGrads(g, row * d.H + h, dA, dB, dG,
                                   Coef{hd[0], hd[1], hd[2], hd[3], hd[4]});
            }
        }
    }
};

// Unsplit (MaxRpw = 32 / J): one block per multiprocessor's worth of registers, dh and the
// replayed state (2 × 32 floats a thread) plus the per-token sums spill under the
// 128-register cap of two. Split into groups of rows (MaxRpw 2): 2 × 8 floats, MinBlocks 3.
// Block (h, b, group); tokPart: null unsplit, else the token partials of every group.
template <int J, int MaxRpw, int MinBlocks>
__global__ void __launch_bounds__(kThreads, MinBlocks)
    backwardKernel(KDims d, ops::SsmScanInputs in, const float* starts, int64_t T, int64_t chunk,
                   Geometry geo, const float* dy, SsmScanGrads g, float* partials, float* states,
                   float* tokPart, int64_t batch) {
    extern __shared__ float smem[];
    Smem sm;
    smemFloats(d.R, d.P, d.N, &sm, smem);
    const int h = blockIdx.x;
    const int64_t b = blockIdx.y;
    const int grp = int(blockIdx.z);
    const int RN = d.R * d.N, RP = d.R * d.P;
    for (int e = threadIdx.x; e < RP; e += kThreads) {
        sm.mx[e] = in.mimoX ? in.mimoX[int64_t(h) * RP + e] : 1.0f;
        sm.dmx[e] = 0.0f;
        sm.dvPend[e] = 0.0f;
    }
    for (int e = threadIdx.x; e < RN; e += kThreads) sm.carry[e] = 0.0f;
    // (replay and backward begin with a barrier)
    const SlotLayout L = slotLayout(d.R, d.P, d.N);
    const TokenLoader ld{d, in, dy, L, h, b * T};
    float* myPart =
        tokPart ? tokPart + grp * batch * T * d.H * int64_t(tokPartFloats(RN, d.P)) : nullptr;
    const Block<J, MaxRpw> blk{d,
                               in,
                               g,
                               geo,
                               sm,
                               L,
                               ld,
                               h,
                               int(threadIdx.x & 31),
                               int(threadIdx.x >> 5),
                               b,
                               T,
                               grp * kWarps * geo.rpw,
                               myPart};
    const int64_t blockId = (b * d.H + h) * geo.groups + grp;
    float* subBase = states + blockId * geo.blockStateFloats;  // sub-chunk entry states
    float* lvl2 = subBase + int64_t(geo.maxSub) * geo.stateF;  // sub + 1 states
    float dh[MaxRpw][J], hs[MaxRpw][J];
#pragma unroll
    for (int i = 0; i < MaxRpw; ++i)
#pragma unroll
        for (int j = 0; j < J; ++j) dh[i][j] = 0.0f;
    float dDacc = 0.0f;
    for (int64_t c = geo.nChk - 1; c >= 0; --c) {
        const int64_t c0 = c * chunk, c1 = min(T, c0 + chunk);
        const int nSub = int((c1 - c0 + geo.sub - 1) / geo.sub);
        if (nSub > 1) {
            blk.loadStart(starts, c, hs);
            blk.replay(hs, c0, c0 + int64_t(nSub - 1) * geo.sub, geo.sub, subBase);
        }
        for (int k = nSub - 1; k >= 0; --k) {
            const int64_t s0 = c0 + int64_t(k) * geo.sub, s1 = min(c1, s0 + geo.sub);
            if (k == 0)
                blk.loadStart(starts, c, hs);
            else
                blk.loadState(subBase + int64_t(k) * geo.stateF, hs);
            blk.saveState(lvl2, hs);
            blk.replay(hs, s0, s1, 1, lvl2);
            blk.backward(dh, s0, s1, lvl2, dDacc);
        }
    }
    // dD and dmimo_x partials of this (row, head, group): [batch · groups, H, 1 + RP].
    if ((threadIdx.x & 31) == 0) sm.misc[threadIdx.x >> 5] = dDacc;
    __syncthreads();
    float* part = partials + ((b * geo.groups + grp) * d.H + h) * int64_t(1 + RP);
    if (threadIdx.x == 0) {
        float s = 0.0f;
        for (int w = 0; w < kWarps; ++w) s += sm.misc[w];
        part[0] = s;
    }
    for (int e = threadIdx.x; e < RP; e += kThreads) part[1 + e] = sm.dmx[e];
}

// g.dD[h] += Σ_b partials[b, h, 0];  g.dmimoX[h, :] += Σ_b partials[b, h, 1 + :], rows (and
// groups: batch here counts batch · groups) in order.
__global__ void sumPartials(int H, int RP, int64_t batch, const float* partials, float* dD,
                            float* dmimoX) {
    const int h = blockIdx.x;
    for (int e = threadIdx.x; e < 1 + RP; e += blockDim.x) {
        if (e > 0 && dmimoX == nullptr) break;
        float s = 0.0f;
        for (int64_t b = 0; b < batch; ++b) s += partials[(b * H + h) * int64_t(1 + RP) + e];
        if (e == 0)
            dD[h] += s;
        else
            dmimoX[int64_t(h) * RP + e - 1] += s;
    }
}

// The split backward's sums over groups, in group order, for every (token row, head):
// dq and dk (+=), and dα, dβ, dγ through the token's coefficients (addScalarGrads).
__global__ void sumTokenPartials(KDims d, ops::SsmScanInputs in, int groups, int groupRows,
                                 int64_t rows, const float* tokPart, SsmScanGrads g) {
    const int64_t th = blockIdx.x;  // row · H + h
    const int64_t row = th / d.H;
    const int h = int(th % d.H), RN = d.R * d.N, F = tokPartFloats(RN, d.P);
    const int64_t gStride = rows * d.H * int64_t(F);
    const float* p = tokPart + th * F;
    for (int e = threadIdx.x; e < RN; e += blockDim.x) {
        float sq = 0.0f, sk = 0.0f;
        for (int k = 0; k < groups; ++k) {
            sq += p[k * gStride + e];
            sk += p[k * gStride + RN + e];
        }
        const int64_t off = (row * d.R * d.H + int64_t(e / d.N) * d.H + h) * d.N + e % d.N;
        g.dq[off] += sq;
        g.dk[off] += sk;
    }
    for (int e = threadIdx.x; e < d.P; e += blockDim.x)  // row e's own group wrote it
        g.dx[row * in.xStride + int64_t(h) * d.P + e] +=
            p[(e / groupRows) * gStride + 2 * RN + 3 + e];
    if (threadIdx.x == 0) {
        float dA = 0.0f, dB = 0.0f, dG = 0.0f;
        for (int k = 0; k < groups; ++k) {
            dA += p[k * gStride + 2 * RN];
            dB += p[k * gStride + 2 * RN + 1];
            dG += p[k * gStride + 2 * RN + 2];
        }
        const float adt = in.adt[th], dt = in.dt[th], tr = in.trap[th];
        const float alpha = expf(adt);
        addScalarGrads(g, th, dA, dB, dG, Coef{alpha, (1.0f - tr) * dt * alpha, tr * dt, dt, tr});
    }
}

// Rows a warp owns in a split block, 0 for no split. At N > 64 (J 4, the ~125M model's
// N 128) an unsplit block of the whole P × N state holds 32 elements a thread and runs one
// block per multiprocessor. Split into groups of 16 rows (2 a warp, the default) a thread
// holds 8 and 3 blocks fit a multiprocessor (80 registers, some spilled); groups of 32 rows
// (LECTERN_SCAN_BWD_GROUPS=2 at P 64) hold 16, 2 blocks. LECTERN_SCAN_BWD_GROUPS=1: no split.
// Read once (a benchmarking knob, like the one below).
int splitRpw() {
    static const int v = [] {
        const char* e = std::getenv("LECTERN_SCAN_BWD_GROUPS");
        const int n = e ? std::atoi(e) : 4;
        return n == 1 ? 0 : n == 2 ? 4 : 2;
    }();
    return v;
}

// Tokens per backward replay: kSubChunk unless LECTERN_SCAN_SUBCHUNK says otherwise (read
// once; a benchmarking knob, so the workspace size and the kernel always agree).
int subChunk() {
    static const int v = [] {
        const char* e = std::getenv("LECTERN_SCAN_SUBCHUNK");
        const int n = e ? std::atoi(e) : 0;
        return n > 0 ? n : kSubChunk;
    }();
    return v;
}

bool geometry(const ops::Mamba3Dims& d, int64_t T, int64_t chunk, int& J, Geometry& geo) {
    if (chunk <= 0 || T <= 0 || !pickLayout(d, J, geo.rpw)) return false;
    geo.groups = 1;
    if (const int sr = splitRpw(); J == 4 && sr > 0 && geo.rpw > sr) {
        geo.groups = (geo.rpw + sr - 1) / sr;
        geo.rpw = sr;
    }
    geo.stateF = geo.rpw * J * kThreads;
    geo.sub = int(std::min<int64_t>(subChunk(), std::min(chunk, T)));
    geo.maxSub = int((std::min(chunk, T) + geo.sub - 1) / geo.sub);
    geo.nChk = (T + chunk - 1) / chunk;
    geo.blockStateFloats = int64_t(geo.maxSub + geo.sub + 1) * geo.stateF;
    return true;
}

// Workspace: [batch · groups, H, 1 + R·P] dD/dmimo_x partials, then batch · H · groups
// blocks' replay states, then (groups > 1) the token partials [groups, batch · T, H, 2RN + 3].
struct WsLayout {
    int64_t partials, states, tokPart, total;
};
WsLayout wsLayout(const ops::Mamba3Dims& d, int64_t batch, int64_t T, const Geometry& geo) {
    WsLayout w{};
    w.partials = 0;
    w.states = batch * geo.groups * d.H * int64_t(1 + d.R * d.P);
    w.tokPart = w.states + batch * d.H * geo.groups * geo.blockStateFloats;
    w.total = w.tokPart + (geo.groups > 1 ? geo.groups * batch * T * d.H *
                                                int64_t(tokPartFloats(d.R * d.N, d.P))
                                          : 0);
    return w;
}

template <int J, int MaxRpw, int MinBlocks>
cudaError_t launchBackward(const ops::Mamba3Dims& dims, const ops::SsmScanInputs& in,
                           const float* starts, int64_t batch, int64_t T, int64_t chunk,
                           const Geometry& geo, const float* dy, const SsmScanGrads& g,
                           float* workspace, cudaStream_t s) {
    const size_t bytes = smemFloats(dims.R, dims.P, dims.N, nullptr, nullptr) * sizeof(float);
    auto* k = backwardKernel<J, MaxRpw, MinBlocks>;
    if (cudaError_t e =
            cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
        e != cudaSuccess)
        return e;
    const int RP = dims.R * dims.P;
    const WsLayout w = wsLayout(dims, batch, T, geo);
    float* tokPart = geo.groups > 1 ? workspace + w.tokPart : nullptr;
    const auto kd = lectern::cuda::detail::kdims(dims);
    k<<<dim3(unsigned(dims.H), unsigned(batch), unsigned(geo.groups)), kThreads, bytes, s>>>(
        kd, in, starts, T, chunk, geo, dy, g, workspace + w.partials, workspace + w.states, tokPart,
        batch);
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
    if (tokPart)
        sumTokenPartials<<<unsigned(batch * T * dims.H), 128, 0, s>>>(
            kd, in, geo.groups, kWarps * geo.rpw, batch * T, tokPart, g);
    // Like the CPU, dmimo_x is written whenever it is given (x's gradient through mimo_x = 1).
    return sumScanPartials(dims.H, RP, batch * geo.groups, workspace + w.partials, g.dD, g.dmimoX,
                           s);
}

}  // namespace

namespace detail {

cudaError_t sumScanPartials(int H, int RP, int64_t rows, const float* partials, float* dD,
                            float* dmimoX, cudaStream_t s) {
    sumPartials<<<unsigned(H), 128, 0, s>>>(H, RP, rows, partials, dD, dmimoX);
    return cudaGetLastError();
}

int64_t sequentialBackwardWorkspaceFloats(const ops::Mamba3Dims& d, int64_t batch, int64_t T,
                                          int64_t chunk) {
    int J = 0;
    Geometry geo{};
    if (batch <= 0 || !geometry(d, T, chunk, J, geo)) return 0;
    return wsLayout(d, batch, T, geo).total;
}

cudaError_t sequentialBackward(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in,
                               const float* starts, int64_t batch, int64_t T, int64_t chunk,
                               const float* dy, const SsmScanGrads& g, float* workspace,
                               cudaStream_t s) {
    if (chunk <= 0 || batch < 0 || T < 0 || batch > 65535) return cudaErrorInvalidValue;
    if (batch == 0 || T == 0) return cudaSuccess;
    int J = 0;
    Geometry geo{};
    if (!geometry(d, T, chunk, J, geo)) return cudaErrorInvalidValue;
    if (geo.groups > 1 && geo.rpw == 2)
        return launchBackward<4, 2, 3>(d, in, starts, batch, T, chunk, geo, dy, g, workspace, s);
    if (geo.groups > 1)
        return launchBackward<4, 4, 2>(d, in, starts, batch, T, chunk, geo, dy, g, workspace, s);
    switch (J) {
        case 1:
            return launchBackward<1, kElems, 1>(d, in, starts, batch, T, chunk, geo, dy, g,
                                                workspace, s);
        case 2:
            return launchBackward<2, kElems / 2, 1>(d, in, starts, batch, T, chunk, geo, dy, g,
                                                    workspace, s);
        default:
            return launchBackward<4, kElems / 4, 1>(d, in, starts, batch, T, chunk, geo, dy, g,
                                                    workspace, s);
    }
}

}  // namespace detail
}  // namespace lectern::train::cuda
