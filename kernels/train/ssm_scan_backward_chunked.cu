// The training scan's backward in chunked matrix form (SISO; maths: training/NOTES-ssm_scan.md,
// "The chunked form and its backward" and "The chunked backward as implemented"). Instead of
// replaying every token's state (ssm_scan_backward.cu, latency-bound), each chunk of ≤ 64
// tokens is a handful of small matrix products, and only the state gradient at chunk
// boundaries is carried from chunk to chunk:
//   A  (per chunk, parallel)   Dloc_c = Σ_i e^{cs_i} dy_i q_iᵀ  [P × N], decay_c = e^{cs_last}
//   B  (per element, reverse over chunks)  G_c = dacc_{c+1};  dacc_c = Dloc_c + decay_c G_c
//   C  (per chunk, parallel)   every per-token gradient from Q, K, V, dY, the chunk's entry
//                              state (the forward's checkpoint) and G_c
//   D  (per token)             ddt, dtrap from the per-token ⟨dh_t, v_t k_tᵀ⟩ (dγ) and
//                              ⟨α_{t+1} dh_{t+1}, v_t k_tᵀ⟩ (ζ) that C wrote
// then the dD / dmimo_x partials summed over (row, chunk) in a fixed order. Everything is
// fp32 (SIMT products out of shared memory) by default; for the TF32 / bf16 step, A's product
// and C's nine run on the tensor cores instead (mmaRun: TF32 operands, fp32 sums; the rest of
// C unchanged). No atomics, so runs agree bit for bit. A and C stage their tiles by cp.async,
// all issued before the first is waited for; C's serial pieces (prefix sums, the intra-chunk
// X sums, dD) are warp scans and warp sums, and the old values of its += targets are loaded
// before the products that make the addends (training/NOTES-cuda.md, helper S); with
// ScanQkxGrads::Write (the training step) dq, dk and dx are written without reading them.
// Phase C is bound by instruction issue at one block an SM, so its global addresses are
// computed once a row and its staging loops unroll at compile-time thread counts (helper S5:
// 46 % fewer instructions). The bf16 training step hands the TF32 form its q and k in bf16 (the
// forward's own operands): staged through registers into the same fp32 tiles, exact in TF32,
// so half the bytes and no rounding of q or k. (A third form with phase C's tiles in bf16 at
// two blocks a multiprocessor was no faster, helper S4; removed, helper C1.)
// One block of 512 threads per (chunk, head, row); the products are tiled 32 × 16 threads,
// thread (ty, tx) owning rows ty + 32i and columns tx + 16j (256 threads: 16 × 16, rows
// ty + 16i): the B operand is read by 16
// consecutive columns (conflict-free in either orientation with the odd leading dimensions).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "train/ssm_scan_train.cuh"

namespace lectern::train::cuda::detail {
namespace {

constexpr int kC = 64;           // the most tokens of a chunk
constexpr int kMaxP = 64;        // headdim the tiles cover
constexpr int kMaxN = 128;       // d_state the tiles cover
constexpr int kLdN = kMaxN + 1;  // odd leading dimensions: conflict-free column reads
constexpr int kLdS = kC + 1;     // rows of P or of chunk-length floats (kMaxP == kC)
static_assert(kMaxP == kC, "the P-wide and chunk-wide arrays share a leading dimension");

__device__ inline int tileRow() {
    return int(threadIdx.x) >> 4;
}
__device__ inline int tileCol() {
    return int(threadIdx.x) & 15;
}

// acc[i][j] += Σ_k A(ty + TY·i, k) · B(k, tx + 16j), A(m, k) = a[m·am + k·ak], B(k, n) =
// b[k·bk + n·bn]: one thread's part of a block-wide product out of shared memory.
template <int TY, int MI, int NJ>
__device__ inline void mmAcc(float (&acc)[MI][NJ], const float* a, int am, int ak, const float* b,
                             int bk, int bn, int K) {
    const int ty = tileRow(), tx = tileCol();
#pragma unroll 4
    for (int k = 0; k < K; ++k) {
        float av[MI], bv[NJ];
#pragma unroll
        for (int i = 0; i < MI; ++i) av[i] = a[(ty + TY * i) * am + k * ak];
#pragma unroll
        for (int j = 0; j < NJ; ++j) bv[j] = b[k * bk + (tx + 16 * j) * bn];
#pragma unroll
        for (int i = 0; i < MI; ++i)
#pragma unroll
            for (int j = 0; j < NJ; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
}

template <int MI, int NJ>
__device__ inline void zero(float (&acc)[MI][NJ]) {
#pragma unroll
    for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NJ; ++j) acc[i][j] = 0.0f;
}

// The same product on the tensor cores (mma.sync m16n8k8, operands rounded to TF32, fp32
// accumulation), for the TF32 / bf16 training step. Warp w computes rows 16(w mod 4) ..
// +15 and NC / (2 · warps) 8-column tiles of the 64 × NC product; the fragments go through
// `scratch` into the SIMT layout acc uses (mmaAcc), or to an epilogue as they are (product2).
// K is covered in blocks of 64 (the arrays are zero past K up to there): the 8 k-slots of
// one mma take k = j, j + 8, ..., j + 56, so with leading dimensions ≡ 1 (mod 32) the
// fragment loads (bank = row + k) hit 32 different banks. Ends with a barrier.
__device__ inline uint32_t toTf32(float x) {
    uint32_t r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
}

// Operands already rounded to TF32 (kRounded: bit 1 = A, bit 2 = B; phase C rounds the tiles
// that only ever feed products once, where it writes them) go to the mma as they are: the
// same bits as rounding at the load, without the cvt between the load and the mma, the
// chain the warps stalled on (training/NOTES-cuda.md, helper S2).
constexpr int kRoundedA = 1, kRoundedB = 2;
template <bool kRounded>
__device__ inline uint32_t tf32Operand(float x) {
    if constexpr (kRounded)
        return __float_as_uint(x);
    else
        return toTf32(x);
}
// x rounded to TF32 in the tensor-core form (kept in fp32 storage), x itself in the fp32 form.
template <bool TC>
__device__ inline float tcRound(float x) {
    if constexpr (TC)
        return __uint_as_float(toTf32(x));
    else
        return x;
}

// c (this warp's kTpw 8-column tiles of rows m0 .. m0 + 15, mma fragment layout) += A · B.
template <int TY, int NJ, int kTpw, int kRounded = 0>
__device__ inline void mmaRun(float (&c)[kTpw][4], const float* a, int am, int ak, const float* b,
                              int bk, int bn, int K) {
    constexpr bool kRa = (kRounded & kRoundedA) != 0, kRb = (kRounded & kRoundedB) != 0;
    constexpr int kWarps = TY / 2, kNc = 16 * NJ;
    static_assert(kTpw * 8 * kWarps == 4 * kNc, "the warps tile the product exactly");
    const int lane = int(threadIdx.x) & 31, w = int(threadIdx.x) >> 5;
    const int g = lane >> 2, t = lane & 3, m0 = 16 * (w & 3), n0 = 8 * kTpw * (w >> 2);
    for (int kb = 0; kb < K; kb += 64) {
#pragma unroll 2
        for (int j = 0; j < 8; ++j) {
            const int k0 = kb + j + 8 * t, k1 = k0 + 32;
            const uint32_t a0 = tf32Operand<kRa>(a[(m0 + g) * am + k0 * ak]);
            const uint32_t a1 = tf32Operand<kRa>(a[(m0 + g + 8) * am + k0 * ak]);
            const uint32_t a2 = tf32Operand<kRa>(a[(m0 + g) * am + k1 * ak]);
            const uint32_t a3 = tf32Operand<kRa>(a[(m0 + g + 8) * am + k1 * ak]);
#pragma unroll
            for (int u = 0; u < kTpw; ++u) {
                const int n = n0 + 8 * u + g;
                const uint32_t b0 = tf32Operand<kRb>(b[k0 * bk + n * bn]);
                const uint32_t b1 = tf32Operand<kRb>(b[k1 * bk + n * bn]);
                asm volatile(
                    "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, "
                    "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                    : "+f"(c[u][0]), "+f"(c[u][1]), "+f"(c[u][2]), "+f"(c[u][3])
                    : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
            }
        }
    }
}

// f(u, q, row, column) for each element c[u][q] of this thread's fragments.
template <int kTpw, class F>
__device__ inline void mmaVisit(F f) {
    const int lane = int(threadIdx.x) & 31, w = int(threadIdx.x) >> 5;
    const int g = lane >> 2, t = lane & 3, m0 = 16 * (w & 3), n0 = 8 * kTpw * (w >> 2);
#pragma unroll
    for (int u = 0; u < kTpw; ++u) {
        const int col = n0 + 8 * u + 2 * t;
        f(u, 0, m0 + g, col), f(u, 1, m0 + g, col + 1);
        f(u, 2, m0 + g + 8, col), f(u, 3, m0 + g + 8, col + 1);
    }
}

// f(row, column, value) for each of this thread's fragment elements.
template <int kTpw, class F>
__device__ inline void mmaForEach(const float (&c)[kTpw][4], F f) {
    mmaVisit<kTpw>([&](int u, int q, int r, int col) { f(r, col, c[u][q]); });
}

// The fragments into dst [64][ld] (no barrier).
template <int TY, int kTpw>
__device__ inline void mmaStore(const float (&c)[kTpw][4], float* dst, int ld) {
    mmaForEach(c, [&](int r, int col, float x) { dst[r * ld + col] = x; });
}

// Rows of the fragments times s[row].
template <int kTpw>
__device__ inline void mmaScaleRows(float (&c)[kTpw][4], const float* s) {
    const int lane = int(threadIdx.x) & 31, w = int(threadIdx.x) >> 5;
    const float s0 = s[16 * (w & 3) + (lane >> 2)], s1 = s[16 * (w & 3) + (lane >> 2) + 8];
#pragma unroll
    for (int u = 0; u < kTpw; ++u) c[u][0] *= s0, c[u][1] *= s0, c[u][2] *= s1, c[u][3] *= s1;
}

// acc (SIMT layout) += the fragments, through scratch ([kC][16 · NJ + 1]). Ends with a barrier.
template <int TY, int MI, int NJ, int kTpw>
__device__ inline void mmaFlush(float (&acc)[MI][NJ], const float (&c)[kTpw][4], float* scratch) {
    constexpr int kLd = 16 * NJ + 1;  // kLdS or kLdN: ≡ 1 (mod 32) like the tiles
    mmaStore<TY>(c, scratch, kLd);
    __syncthreads();
    const int ty = tileRow(), tx = tileCol();
#pragma unroll
    for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NJ; ++j) acc[i][j] += scratch[(ty + TY * i) * kLd + tx + 16 * j];
    __syncthreads();
}

template <int TY, int NJ>
__host__ __device__ constexpr int tilesPerWarp() {
    return 16 * NJ / TY;
}

template <int TY, int R, int MI, int NJ>
__device__ inline void mmaAcc(float (&acc)[MI][NJ], const float* a, int am, int ak, const float* b,
                              int bk, int bn, int K, float* scratch) {
    float c[tilesPerWarp<TY, NJ>()][4] = {};
    mmaRun<TY, NJ, tilesPerWarp<TY, NJ>(), R>(c, a, am, ak, b, bk, bn, K);
    mmaFlush<TY>(acc, c, scratch);
}

// mmAcc or mmaAcc: the chunk backward's products, fp32 or on the tensor cores (R: which
// operands the tensor-core form holds rounded already).
template <int TY, bool TC, int R, int MI, int NJ>
__device__ inline void product(float (&acc)[MI][NJ], const float* a, int am, int ak, const float* b,
                               int bk, int bn, int K, float* scratch) {
    if constexpr (TC)
        mmaAcc<TY, R>(acc, a, am, ak, b, bk, bn, K, scratch);
    else
        mmAcc<TY>(acc, a, am, ak, b, bk, bn, K);
}

// Old values of a += target, loaded before the products that compute the addend, so the
// read of the read-modify-write is not one more round trip after them. Row r of the target
// starts at base + rowOff(r) (< 0: no row there), columns < cols: one 64-bit offset a row,
// not one an element (the per-element offsets were a quarter of phase C's instructions).
template <int MI, int NJ, int TY, class Row>
__device__ inline void prefetch(float (&old)[MI][NJ], const float* base, Row rowOff, int cols) {
#pragma unroll
    for (int i = 0; i < MI; ++i) {
        const int64_t o = rowOff(tileRow() + TY * i);
        const float* row = base + (o >= 0 ? o : 0);
#pragma unroll
        for (int j = 0; j < NJ; ++j) {
            const int col = tileCol() + 16 * j;
            old[i][j] = o >= 0 && col < cols ? row[col] : 0.0f;
        }
    }
}

// Row r of a += target at base + rowOff(r) (< 0: no row there), columns < cols: base[row r,
// column] += add(r, column, c) for the fragments c that run(c) accumulates from zero (= where
// readOld is false: the old values are neither read nor kept). A thread's
// fragments cover two rows, so their offsets are computed once; the old values are loaded
// before run, and every addend is formed before the first store (shared-memory loads of add
// are not reissued after each global store). pairs (cols even, base 8-byte aligned): a lane's
// two adjacent columns are read and written as one float2, so a warp instruction covers 8 rows
// × 32 bytes, whole sectors, instead of 8 rows × 4 bytes twice (the scalar form cost phase C
// ~0.4 ms on the H100: training/NOTES-cuda.md, helper S2).
template <int kTpw, class Row, class Add, class Run>
__device__ inline void fragPlusEq(float* base, bool pairs, bool readOld, int cols, Row rowOff,
                                  Add add, Run run) {
    const int lane = int(threadIdx.x) & 31, w = int(threadIdx.x) >> 5;
    const int g = lane >> 2, t = lane & 3, m0 = 16 * (w & 3), n0 = 8 * kTpw * (w >> 2);
    const int64_t o[2] = {rowOff(m0 + g), rowOff(m0 + g + 8)};
    float* row[2] = {base + (o[0] >= 0 ? o[0] : 0), base + (o[1] >= 0 ? o[1] : 0)};
    float old[kTpw][4], c[kTpw][4] = {};
#pragma unroll
    for (int u = 0; u < kTpw; ++u)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int col = n0 + 8 * u + 2 * t;
            float2 x = make_float2(0.0f, 0.0f);
            if (readOld && o[h] >= 0 && col < cols) {
                if (pairs) {  // col + 1 < cols wherever col < cols (cols even)
                    x = *reinterpret_cast<const float2*>(row[h] + col);
                } else {
                    x.x = row[h][col];
                    if (col + 1 < cols) x.y = row[h][col + 1];
                }
            }
            old[u][2 * h] = x.x, old[u][2 * h + 1] = x.y;
        }
    run(c);
#pragma unroll
    for (int u = 0; u < kTpw; ++u)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int r = m0 + g + 8 * h, col = n0 + 8 * u + 2 * t;
            c[u][2 * h] = old[u][2 * h] + add(r, col, c[u][2 * h]);
            c[u][2 * h + 1] = old[u][2 * h + 1] + add(r, col + 1, c[u][2 * h + 1]);
        }
#pragma unroll
    for (int u = 0; u < kTpw; ++u)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int col = n0 + 8 * u + 2 * t;
            if (o[h] < 0 || col >= cols) continue;
            if (pairs) {
                *reinterpret_cast<float2*>(row[h] + col) =
                    make_float2(c[u][2 * h], c[u][2 * h + 1]);
            } else {
                row[h][col] = c[u][2 * h];
                if (col + 1 < cols) row[h][col + 1] = c[u][2 * h + 1];
            }
        }
}

// Row r of a += target at base + rowOff(r) (< 0: no row there), columns < cols: += add(row,
// column, acc) for acc = diag(s) A1 B1 + A2 B2 (rows scaled between the two products); the old
// values are loaded before the products (readOld false: =). On the tensor cores the two accumulate
// in the same fragments, which are written as they are (fragPlusEq): no trip through scratch, no
// barrier.
template <int TY, bool TC, int R1, int R2, int NJ, class Row, class Add>
__device__ inline void product2(float* base, bool pairs, bool readOld, int cols, Row rowOff,
                                Add add, const float* a1, int am1, int ak1, const float* b1,
                                int bk1, int bn1, int K1, const float* s, const float* a2, int am2,
                                int ak2, const float* b2, int bk2, int bn2, int K2) {
    if constexpr (TC) {
        fragPlusEq<tilesPerWarp<TY, NJ>()>(base, pairs, readOld, cols, rowOff, add, [&](auto& c) {
            mmaRun<TY, NJ, tilesPerWarp<TY, NJ>(), R1>(c, a1, am1, ak1, b1, bk1, bn1, K1);
            mmaScaleRows(c, s);
            mmaRun<TY, NJ, tilesPerWarp<TY, NJ>(), R2>(c, a2, am2, ak2, b2, bk2, bn2, K2);
        });
    } else {  // in place: a second accumulator costs registers (fp32 4 % slower)
        constexpr int MI = kC / TY;
        float old[MI][NJ], acc[MI][NJ];
        prefetch<MI, NJ, TY>(old, base, rowOff, readOld ? cols : 0);
        zero(acc);
        mmAcc<TY>(acc, a1, am1, ak1, b1, bk1, bn1, K1);
#pragma unroll
        for (int i = 0; i < MI; ++i)
#pragma unroll
            for (int j = 0; j < NJ; ++j) acc[i][j] *= s[tileRow() + TY * i];
        mmAcc<TY>(acc, a2, am2, ak2, b2, bk2, bn2, K2);
#pragma unroll
        for (int i = 0; i < MI; ++i)
#pragma unroll
            for (int j = 0; j < NJ; ++j) {
                const int r = tileRow() + TY * i;
                acc[i][j] = old[i][j] + add(r, tileCol() + 16 * j, acc[i][j]);
            }
#pragma unroll
        for (int i = 0; i < MI; ++i) {
            const int64_t o = rowOff(tileRow() + TY * i);
            if (o < 0) continue;
#pragma unroll
            for (int j = 0; j < NJ; ++j)
                if (const int col = tileCol() + 16 * j; col < cols) base[o + col] = acc[i][j];
        }
    }
}

// dst [kC][kLdS] = A · B (a 64 × 64 product, nothing else done with it here; no barrier).
template <int TY, bool TC, int R>
__device__ inline void productStore(float* dst, const float* a, int am, int ak, const float* b,
                                    int bk, int bn, int K) {
    if constexpr (TC) {
        constexpr int kTpw = tilesPerWarp<TY, 4>();
        float c[kTpw][4] = {};
        mmaRun<TY, 4, kTpw, R>(c, a, am, ak, b, bk, bn, K);
        mmaStore<TY>(c, dst, kLdS);
    } else {
        constexpr int MI = kC / TY;
        float t[MI][4];
        zero(t);
        mmAcc<TY>(t, a, am, ak, b, bk, bn, K);
#pragma unroll
        for (int i = 0; i < MI; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j)
                dst[(tileRow() + TY * i) * kLdS + tileCol() + 16 * j] = t[i][j];
    }
}

// Σ over the 16 threads of a tile row (one half-warp: the xor offsets stay inside it).
__device__ inline float rowSum16(float v) {
    for (int o = 8; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Loads of the carry kernel in flight together: kBatch chunks a thread at a time.
constexpr int kBatch = 8;

// One float by cp.async (4 bytes: the tiles' odd leading dimensions leave rows unaligned for
// wider copies). Every load of a block is issued before the first is waited for, so a block
// pays about one memory latency for its tiles instead of one per batch of elements.
__device__ inline void cpAsync4(float* dst, const float* src) {
    asm volatile(
        "cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(unsigned(__cvta_generic_to_shared(dst))),
        "l"(src)
        : "memory");
}
// This thread's copies have landed (visible to it; a barrier makes them everyone's).
__device__ inline void cpAsyncWait() {
    asm volatile("cp.async.wait_all;\n" ::: "memory");
}

// A [kC][LD] tile's elements as thread t of a block of 16 · TY threads holds them: warp w the
// rows w + (TY / 2) k, lane l the columns l + 32j. The counts are compile-time constants, so
// every loop unrolls and every offset past a row's start is an immediate (the load phase was
// 40 % of phase C's instructions with runtime loops, an element's 64-bit address each).
// fixOwn(e, i, n) visits a thread's own elements: after cpAsyncWait it finishes what asyncTile
// staged without a barrier.
template <int LD, int TY, class F>
__device__ inline void fixOwn(F f) {
    constexpr int kW = TY / 2;
    const int w = int(threadIdx.x) >> 5, lane = int(threadIdx.x) & 31;
#pragma unroll
    for (int k = 0; k < kC / kW; ++k)
#pragma unroll
        for (int j = 0; j < (LD + 31) / 32; ++j) {
            const int i = w + kW * k, n = lane + 32 * j;
            if (n < LD) f(i * LD + n, i, n);
        }
}
// dst [kC][LD] ← src[i·stride + n] for i < rows, n < cols (cp.async), zeros elsewhere (plain
// stores), in fixOwn's order.
template <int LD, int TY>
__device__ inline void asyncTile(float* dst, int rows, int cols, const float* src, int64_t stride) {
    constexpr int kW = TY / 2;
    const int w = int(threadIdx.x) >> 5, lane = int(threadIdx.x) & 31;
    const float* row = src + w * stride + lane;
    if (rows == kC && cols == LD - 1) {
        // A full tile (every chunk of the benchmark shapes): no predicate an element, and the
        // offsets within a row are immediates (the general form below costs ~4x the
        // instructions: a 64-bit address and a predicate an element).
        float* d = dst + w * LD + lane;
#pragma unroll
        for (int k = 0; k < kC / kW; ++k, row += kW * stride, d += kW * LD) {
#pragma unroll
            for (int j = 0; j < LD / 32; ++j) cpAsync4(d + 32 * j, row + 32 * j);
            if (lane == 0) d[LD - 1] = 0.0f;  // the padding column
        }
        return;
    }
#pragma unroll
    for (int k = 0; k < kC / kW; ++k, row += kW * stride) {
        const int i = w + kW * k;
#pragma unroll
        for (int j = 0; j < (LD + 31) / 32; ++j) {
            const int n = lane + 32 * j;
            if (n >= LD) continue;
            if (i < rows && n < cols)
                cpAsync4(dst + i * LD + n, row + 32 * j);
            else
                dst[i * LD + n] = 0.0f;
        }
    }
}

// q or k of a chunk in bf16 (the forward's operands, the TF32 form with bf16 q/k),
// on their way to an fp32 [kC][kLdN] tile through registers (cp.async cannot widen): a bf16 is
// an fp32 with 16 zero low bits, so the tile holds exact TF32 values and needs no rounding.
// Item u of warp w is the 8 × 4 block q = w + (TY / 2) u of 8-element groups: rows 8(q / 4) +
// (lane & 7), group 4(q mod 4) + (lane >> 3), so a warp reads 8 rows × 64 bytes by 16-byte loads
// and stores element e of its groups to banks (lane + const) mod 32: no conflicts at kLdN ≡ 1.
template <int TY>
struct BfTile {
    static constexpr int kW = TY / 2, kItems = kC * (kMaxN / 8) / 32 / kW;
    uint4 v[kItems];
    __device__ static int row(int u) {
        return 8 * ((int(threadIdx.x >> 5) + kW * u) >> 2) + (int(threadIdx.x) & 7);
    }
    __device__ static int col(int u) {
        return 8 * (4 * ((int(threadIdx.x >> 5) + kW * u) & 3) + ((int(threadIdx.x) & 31) >> 3));
    }
};
// src[i·stride + n] (halves) for i < rows, n < cols, zeros elsewhere; 16-byte loads where every
// group is whole and aligned (cols and stride multiples of 8, src 16-byte aligned).
template <int TY>
__device__ inline void loadBfTile(BfTile<TY>& t, const uint16_t* src, int rows, int cols,
                                  int64_t stride) {
    const bool vec =
        (cols & 7) == 0 && (stride & 7) == 0 && (reinterpret_cast<uintptr_t>(src) & 15) == 0;
#pragma unroll
    for (int u = 0; u < BfTile<TY>::kItems; ++u) {
        const int i = BfTile<TY>::row(u), n = BfTile<TY>::col(u);
        uint4 x = make_uint4(0, 0, 0, 0);
        if (i < rows && n < cols) {
            const uint16_t* p = src + i * stride + n;
            if (vec) {
                x = __ldg(reinterpret_cast<const uint4*>(p));
            } else {
                uint32_t w[4] = {};
#pragma unroll
                for (int e = 0; e < 8; ++e)
                    if (n + e < cols) w[e >> 1] |= uint32_t(p[e]) << (16 * (e & 1));
                x = make_uint4(w[0], w[1], w[2], w[3]);
            }
        }
        t.v[u] = x;
    }
}
// The registers into dst [kC][kLdN] as fp32, the padding column zeroed (no barrier).
template <int TY>
__device__ inline void storeBfTile(const BfTile<TY>& t, float* dst) {
#pragma unroll
    for (int u = 0; u < BfTile<TY>::kItems; ++u) {
        float* d = dst + BfTile<TY>::row(u) * kLdN + BfTile<TY>::col(u);
        const uint32_t w[4] = {t.v[u].x, t.v[u].y, t.v[u].z, t.v[u].w};
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            d[2 * e] = __uint_as_float(w[e] << 16);
            d[2 * e + 1] = __uint_as_float(w[e] & 0xffff0000u);
        }
    }
    if (threadIdx.x < kC) dst[threadIdx.x * kLdN + kMaxN] = 0.0f;
}
__device__ inline float bf16Bits(uint16_t h) {
    return __uint_as_float(uint32_t(h) << 16);
}

// Inclusive prefix sums of 64 values over one warp, lane l holding values 2l (a0) and 2l + 1
// (a1): log-depth shuffles instead of a 64-step loop on one thread.
__device__ inline void warpScan64(float& a0, float& a1) {
    const int lane = int(threadIdx.x) & 31;
    float inc = a0 + a1;
    for (int o = 1; o < 32; o <<= 1) {
        const float y = __shfl_up_sync(0xffffffffu, inc, o);
        if (lane >= o) inc += y;
    }
    float ex = __shfl_up_sync(0xffffffffu, inc, 1);
    if (lane == 0) ex = 0.0f;
    a0 += ex;
    a1 = inc;
}

// One chunk's place: row b, head h, tokens t0 .. t0 + L − 1.
struct ChunkPos {
    int64_t b, c, t0, row0;  // row0 = b·T + t0
    int h, L;
};

// The per-token scalars of a chunk in shared memory (zeros past L).
struct ChunkScalars {
    float cs[kC];     // Σ_{j ≤ i} adt_j within the chunk
    float ecs[kC];    // e^{cs_i}
    float dec[kC];    // e^{cs_{L−1} − cs_i}
    float gam[kC];    // γ_i = trap_i dt_i
    float piN[kC];    // (1 − trap_{i+1}) dt_{i+1}: token i + 1's pending weight (0 past T)
    float scl[kC];    // scale_i = γ_i + piN_i inside the chunk, γ for the last token
    float mx[kMaxP];  // mimo_x[h] (1 where not given)
};

struct Dev {
    KDims d;
    ops::SsmScanInputs in;
    const float* dy;
    int64_t T, chunk, nChk, batch;
    // q and k in bf16 ([batch·T, H, N] each; null: in.q / in.k in fp32).
    const uint16_t* qB = nullptr;
    const uint16_t* kB = nullptr;
    __device__ int64_t qkOff(int64_t row, int h) const { return (row * d.H + h) * int64_t(d.N); }
    __device__ int64_t xOff(int64_t row, int h) const {
        return row * in.xStride + int64_t(h) * d.P;
    }
    __device__ int64_t yOff(int64_t row, int h) const { return (row * d.H + h) * int64_t(d.P); }
    __device__ ChunkPos pos() const { return posOf(blockIdx.x, blockIdx.y, blockIdx.z); }
    // The chunk of linear index lin = (b · H + h) · nChk + c (phase C's persistent blocks).
    __device__ ChunkPos pos(int64_t lin) const {
        return posOf(lin % nChk, int((lin / nChk) % d.H), lin / (nChk * d.H));
    }
    __device__ ChunkPos posOf(int64_t c, int h, int64_t b) const {
        ChunkPos p{};
        p.c = c, p.h = h, p.b = b;
        p.t0 = p.c * chunk;
        p.row0 = p.b * T + p.t0;
        p.L = int(min(chunk, T - p.t0));
        return p;
    }
    // The chunk's [kC][ld] tiles of q, k (N wide), dy and raw x (P wide) by cp.async.
    template <int TY>
    __device__ void asyncQ(float* dst, const ChunkPos& c) const {
        asyncTile<kLdN, TY>(dst, c.L, d.N, in.q + qkOff(c.row0, c.h), int64_t(d.H) * d.N);
    }
    template <int TY>
    __device__ void asyncK(float* dst, const ChunkPos& c) const {
        asyncTile<kLdN, TY>(dst, c.L, d.N, in.k + qkOff(c.row0, c.h), int64_t(d.H) * d.N);
    }
    // The chunk's bf16 q or k rows into registers (storeBfTile puts them in the tile).
    template <int TY>
    __device__ void loadBf(BfTile<TY>& t, const uint16_t* src, const ChunkPos& c) const {
        loadBfTile<TY>(t, src + qkOff(c.row0, c.h), c.L, d.N, int64_t(d.H) * d.N);
    }
    template <int TY>
    __device__ void asyncDy(float* dst, const ChunkPos& c) const {
        asyncTile<kLdS, TY>(dst, c.L, d.P, dy + yOff(c.row0, c.h), int64_t(d.H) * d.P);
    }
    template <int TY>
    __device__ void asyncX(float* dst, const ChunkPos& c) const {
        asyncTile<kLdS, TY>(dst, c.L, d.P, in.x + xOff(c.row0, c.h), in.xStride);
    }
    // The scalars, all by warp 0 (a warp scan for cs); ends with a barrier.
    __device__ void loadScalars(ChunkScalars& sc, const ChunkPos& c) const {
        for (int p = int(threadIdx.x); p < kMaxP; p += int(blockDim.x))
            sc.mx[p] = p < d.P && in.mimoX ? in.mimoX[int64_t(c.h) * d.P + p] : 1.0f;
        if (threadIdx.x < 32) {
            float a[2];
#pragma unroll
            for (int k = 0; k < 2; ++k) {
                const int i = 2 * int(threadIdx.x) + k;
                float adt = 0.0f, g = 0.0f, pn = 0.0f;
                if (i < c.L) {
                    const int64_t th = (c.row0 + i) * d.H + c.h;
                    adt = in.adt[th];
                    g = in.trap[th] * in.dt[th];
                    if (c.t0 + i + 1 < T) pn = (1.0f - in.trap[th + d.H]) * in.dt[th + d.H];
                }
                sc.gam[i] = g, sc.piN[i] = pn;
                sc.scl[i] = i + 1 < c.L ? g + pn : g;
                a[k] = adt;
            }
            warpScan64(a[0], a[1]);
            const int last = c.L - 1;
            const float cl = __shfl_sync(0xffffffffu, (last & 1) ? a[1] : a[0], last >> 1);
#pragma unroll
            for (int k = 0; k < 2; ++k) {
                const int i = 2 * int(threadIdx.x) + k;
                sc.cs[i] = a[k];
                sc.ecs[i] = i < c.L ? expf(a[k]) : 0.0f;
                sc.dec[i] = i < c.L ? expf(cl - a[k]) : 0.0f;
            }
        }
        __syncthreads();
    }
};

// Phase A: Dloc_c = dYᵀ diag(e^{cs}) Q into G [batch, nChk, H, P, N], decay_c = e^{cs_last}.
// TC: the product on the tensor cores (TF32 operands, fp32 sums), stored from the fragments
// (the SIMT product was L1-bound: 1.05 ms of the benchmark's ~5.7).
template <int NJ, int TY, bool TC>
__global__ void __launch_bounds__(16 * TY) chunkStateGradKernel(Dev v, float* G, float* decay) {
    constexpr int MI = kC / TY;
    extern __shared__ float smem[];
    float* Qs = smem;            // [kC][kLdN]
    float* Ys = Qs + kC * kLdN;  // [kC][kLdS], rows scaled by e^{cs}
    auto& sc = *reinterpret_cast<ChunkScalars*>(Ys + kC * kLdS);
    const ChunkPos c = v.pos();
    BfTile<TY> qb;
    if (v.qB != nullptr)
        v.template loadBf<TY>(qb, v.qB, c);
    else
        v.template asyncQ<TY>(Qs, c);
    v.template asyncDy<TY>(Ys, c);
    v.loadScalars(sc, c);
    if (v.qB != nullptr) storeBfTile<TY>(qb, Qs);
    cpAsyncWait();
    fixOwn<kLdS, TY>([&](int e, int i, int) { Ys[e] *= sc.ecs[i]; });
    __syncthreads();
    const int64_t PN = int64_t(v.d.P) * v.d.N, blk = (c.b * v.nChk + c.c) * v.d.H + c.h;
    float* out = G + blk * PN;
    auto put = [&](int p, int n, float x) {  // rows p, columns n
        if (p < v.d.P && n < v.d.N) out[int64_t(p) * v.d.N + n] = x;
    };
    if constexpr (TC) {
        float f[tilesPerWarp<TY, NJ>()][4] = {};
        mmaRun<TY, NJ>(f, Ys, 1, kLdS, Qs, kLdN, 1, c.L);
        mmaForEach(f, put);
    } else {
        float acc[MI][NJ];
        zero(acc);
        mmAcc<TY>(acc, Ys, 1, kLdS, Qs, kLdN, 1, c.L);
#pragma unroll
        for (int i = 0; i < MI; ++i)
#pragma unroll
            for (int j = 0; j < NJ; ++j) put(tileRow() + TY * i, tileCol() + 16 * j, acc[i][j]);
    }
    if (threadIdx.x == 0) decay[blk] = expf(sc.cs[c.L - 1]);
}

// Phase B: for every state element of (row, head), last chunk first: G_c ← the running
// dacc of chunk c + 1 (0 for the last), running ← Dloc_c + decay_c · G_c. In place.
__global__ void carryStateGradKernel(int H, int64_t PN, int64_t nChk, float* __restrict__ G,
                                     const float* __restrict__ decay) {
    const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    const int h = int(blockIdx.y);
    const int64_t b = blockIdx.z;
    if (e >= PN) return;
    float run = 0.0f;
    // kBatch chunks at a time: their loads in flight together, then the dependent chain.
    for (int64_t c0 = nChk - 1; c0 >= 0; c0 -= kBatch) {
        float dl[kBatch], dc[kBatch];
#pragma unroll
        for (int u = 0; u < kBatch; ++u) {
            const int64_t blk = (b * nChk + c0 - u) * H + h;
            dl[u] = c0 - u >= 0 ? G[blk * PN + e] : 0.0f;
            dc[u] = c0 - u >= 0 ? decay[blk] : 0.0f;
        }
#pragma unroll
        for (int u = 0; u < kBatch; ++u) {
            if (c0 - u < 0) break;
            G[((b * nChk + c0 - u) * H + h) * PN + e] = run;
            run = fmaf(dc[u], run, dl[u]);
        }
    }
}

struct ChunkOut {
    SsmScanGrads g;
    const float* starts;  // the forward's checkpoints [batch, nChk, H, P, N]
    const float* G;       // phase B's G_c, same layout
    float* tokScal;       // [2, batch · T, H]: dγ_t, then ζ_t
    float* partials;      // [batch · nChk, H, 1 + P]: dD, dmimo_x
    bool writeQkx;        // dq, dk, dx written (=), their old values not read
};

// Shared memory of phase C, in floats: the tiles, the scalars, the per-token vectors (Sd, Pd,
// dcsA, Ev: kC each; kin: kMaxN; red: 64; the X row sums' halves: 2 · kC; the X column sums'
// per-pass parts: 8 · kC). The tensor-core form adds G_c's own tile ([kMaxP][kLdN]).
constexpr int kVecFloats = 4 * kC + kMaxN + 64 + 2 * kC + 8 * kC;
__host__ __device__ constexpr size_t chunkSmemFloats(bool tc) {
    return size_t(3) * kC * kLdN + size_t(5) * kC * kLdS + sizeof(ChunkScalars) / 4 + kVecFloats +
           (tc ? size_t(kC) * kLdN : 0);
}

// Floats [p, p + n) into L2 by one bulk prefetch of the whole 16-byte blocks from p rounded
// down (allocations are 256-byte aligned) to p + n rounded down. No completion to wait for.
__device__ inline void prefetchL2(const float* p, int64_t n) {
#if __CUDA_ARCH__ >= 900  // a Hopper instruction; the compute_80 PTX goes without the prefetch
    const uint64_t lo = reinterpret_cast<uint64_t>(p) & ~uint64_t(15);
    const uint64_t hi = reinterpret_cast<uint64_t>(p + n) & ~uint64_t(15);
    if (hi > lo)
        asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(lo),
                     "r"(unsigned(hi - lo))
                     : "memory");
#else
    (void)p, (void)n;
#endif
}

// The tiles chunk c will load first (q, k, dy, x rows, its checkpoint) and G_c with the next
// checkpoint, into L2 while this block still works on the chunk before: one row a thread.
__device__ inline void prefetchChunk(const Dev& v, const float* starts, const float* G,
                                     const ChunkPos& c) {
    const KDims& d = v.d;
    const int64_t PN = int64_t(d.P) * d.N, blk = (c.b * v.nChk + c.c) * d.H + c.h;
    const int i = int(threadIdx.x) & (kC - 1), what = int(threadIdx.x) / kC;
    if (i < c.L) {
        const int64_t row = c.row0 + i;
        // bf16 q / k: half the bytes, as floats (N halves from a row's start: N / 2 floats
        // from there, rounded up).
        if (what == 0)
            v.qB ? prefetchL2(reinterpret_cast<const float*>(v.qB + v.qkOff(row, c.h)),
                              (d.N + 1) / 2)
                 : prefetchL2(v.in.q + v.qkOff(row, c.h), d.N);
        if (what == 1)
            v.kB ? prefetchL2(reinterpret_cast<const float*>(v.kB + v.qkOff(row, c.h)),
                              (d.N + 1) / 2)
                 : prefetchL2(v.in.k + v.qkOff(row, c.h), d.N);
        if (what == 2) prefetchL2(v.dy + v.yOff(row, c.h), d.P);
        if (what == 3) prefetchL2(v.in.x + v.xOff(row, c.h), d.P);
    }
    if (threadIdx.x == blockDim.x - 1) prefetchL2(starts + blk * PN, PN);
    if (threadIdx.x == blockDim.x - 2 && c.c + 1 < v.nChk) {
        prefetchL2(G + blk * PN, PN);
        prefetchL2(starts + (blk + d.H) * PN, PN);
    }
}

// h_out's elements at this thread's places of G_c's tile (asyncTile's order; the columns < 128),
// 0 past the P × N state, for ⟨G_c, h_out⟩.
template <int TY>
using GRegs = float[2 * kC / TY][kMaxN / 32];
template <int TY>
__device__ inline void loadOwnG(GRegs<TY>& s1, const float* S1, int P, int N) {
    const int w = int(threadIdx.x) >> 5, lane = int(threadIdx.x) & 31;
#pragma unroll
    for (int k = 0; k < 2 * kC / TY; ++k)
#pragma unroll
        for (int j = 0; j < kMaxN / 32; ++j) {
            const int p = w + (TY / 2) * k, n = lane + 32 * j;
            s1[k][j] = p < P && n < N ? S1[p * N + n] : 0.0f;
        }
}
// After cpAsyncWait: this thread's part of ⟨G_c, h_out⟩, its elements of G_c rounded for the
// tensor cores after (they only feed products from then on; zeros past the state either way).
template <int TY, bool TC>
__device__ inline float ownDotG(float* Gs, const GRegs<TY>& s1) {
    const int w = int(threadIdx.x) >> 5, lane = int(threadIdx.x) & 31;
    float gh = 0.0f;
#pragma unroll
    for (int k = 0; k < 2 * kC / TY; ++k)
#pragma unroll
        for (int j = 0; j < kMaxN / 32; ++j) {
            float& gv = Gs[(w + (TY / 2) * k) * kLdN + lane + 32 * j];
            gh += s1[k][j] * gv;
            gv = tcRound<TC>(gv);
        }
    return gh;
}

// One element (row i, column s) of the mask pass over S = Q Kᵀ and Pm = dY Vᵀ: A3 = M ⊙ w ⊙
// Pm (diagonal included), M ⊙ S and M ⊙ Pm strictly below the diagonal, and X_is = M_is w_is
// S_is Pm_is (s < i), the term of the intra-chunk log-decay sums.
struct MaskedPair {
    float a3, s, p, X;
};
__device__ inline MaskedPair maskPair(const ChunkScalars& sc, int i, int s, float sv, float pm) {
    const float m = s <= i ? expf(sc.cs[i] - sc.cs[s]) : 0.0f;
    const float ms = s < i ? m : 0.0f, msv = ms * sv;
    return {m * (s < i ? sc.scl[s] : sc.gam[i]) * pm, msv, ms * pm, msv * pm * sc.scl[s]};
}
// X's row sum over the warp's 32 columns s of row i (token i's cs: one half of the row).
__device__ inline void rowPartOf(float X, float* rowPart, int i, int s) {
    const float r = lectern::cuda::detail::warpSum(X);
    if ((threadIdx.x & 31) == 0) rowPart[(s >> 5) * kC + i] = r;
}

// dcs_j's acc term, e^{cs_j} ⟨dy_j, acc q_j⟩, from t = Q accᵀ (SIMT layout); y(i, j, r, p): dy
// of row r, column p (this thread's element i, j).
template <int TY, int MI, class Y>
__device__ inline void dcsAccTerm(const float (&t)[MI][4], Y y, const ChunkScalars& sc,
                                  float* dcsA) {
    const int ty = tileRow(), tx = tileCol();
#pragma unroll
    for (int i = 0; i < MI; ++i) {
        const int r = ty + TY * i;
        float s = 0.0f;
#pragma unroll
        for (int j = 0; j < 4; ++j) s += t[i][j] * y(i, j, r, tx + 16 * j);
        s = rowSum16(s);
        if (tx == 0) dcsA[r] = sc.ecs[r] * s;
    }
}

// E_s = w_{last,s} e^{cs_last − cs_s} ⟨v_s, G k_s⟩ from t = K Gᵀ, then t ← e^{cs_last − cs_s} t
// (Zstrict's G term); vv(i, j, r, p): v, as y of dcsAccTerm.
template <int TY, int MI, class V>
__device__ inline void evRows(float (&t)[MI][4], V vv, const ChunkScalars& sc, float* Ev) {
    const int ty = tileRow(), tx = tileCol();
#pragma unroll
    for (int i = 0; i < MI; ++i) {
        const int r = ty + TY * i;
        float s = 0.0f;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            s += t[i][j] * vv(i, j, r, tx + 16 * j);
            t[i][j] *= sc.dec[r];
        }
        s = rowSum16(s);
        if (tx == 0) Ev[r] = sc.scl[r] * sc.dec[r] * s;
    }
}

// From Zstrict (t, SIMT layout): dx += dv ⊙ mimo_x, the per-token dγ and ζ, and this thread's
// parts of the dD (Σ dy·v) and dmimo_x (Σ dv ⊙ x) sums into parts [2·TY][kC]. yv(i, j, r, p):
// (dy, v) of row r, column p (this thread's element i, j).
template <int TY, int MI, class YV>
__device__ inline void dvEpilogue(const Dev& v, const ChunkOut& o, const ChunkPos& c,
                                  const ChunkScalars& sc, const float* Sd, const float (&t)[MI][4],
                                  const float (&dxOld)[MI][4], const float (&xr)[MI][4], YV yv,
                                  float* parts) {
    const KDims& d = v.d;
    const int ty = tileRow(), tx = tileCol(), L = c.L, P = d.P;
    const float Dh = v.in.D[c.h];
    float pD[4] = {}, pM[4] = {}, dx[MI][4], dg[MI], ze[MI];
#pragma unroll
    for (int i = 0; i < MI; ++i) {
        const int r = ty + TY * i;
        dg[i] = 0.0f, ze[i] = 0.0f;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int p = tx + 16 * j;
            const float2 w = yv(i, j, r, p);  // (dy, v)
            const float zs = t[i][j], z = zs + Sd[r] * w.x;
            dg[i] += w.y * z;
            ze[i] += w.y * zs;
            const float dv = Dh * w.x + sc.gam[r] * z + sc.piN[r] * zs;
            dx[i][j] = dxOld[i][j] + dv * sc.mx[p];
            pD[j] += w.x * w.y;
            pM[j] += dv * xr[i][j];
        }
        dg[i] = rowSum16(dg[i]), ze[i] = rowSum16(ze[i]);
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        parts[ty * kC + tx + 16 * j] = pD[j];
        parts[(TY + ty) * kC + tx + 16 * j] = pM[j];
    }
    // The global stores last, so that no shared-memory value above is loaded again after one.
    const int64_t rows = v.batch * v.T;
#pragma unroll
    for (int i = 0; i < MI; ++i) {
        const int r = ty + TY * i;
        if (r >= L) continue;
        float* dxRow = o.g.dx + v.xOff(c.row0 + r, c.h);
#pragma unroll
        for (int j = 0; j < 4; ++j)
            if (const int p = tx + 16 * j; p < P) dxRow[p] = dx[i][j];
        if (tx == 0) {
            const int64_t th = (c.row0 + r) * d.H + c.h;
            o.tokScal[th] = dg[i];
            o.tokScal[rows * d.H + th] = ze[i];
        }
    }
}

// The chunk's end, after a barrier. Three warps finish in parallel. Warp 0: dcs_j = acc term +
// Σ_{s<j} X_js − Σ_{i>j} X_ij − E_j (+ ⟨G, h_out⟩ for the last token); dadt_j += Σ_{i ≥ j}
// dcs_i within the chunk (a suffix scan: lane l holds j = 63 − 2l, 62 − 2l). Warps 1, 2: the
// (row, chunk, head) partials of dmimo_x and dD from the threads' parts (dvEpilogue).
template <int TY>
__device__ inline void finishChunk(const Dev& v, const ChunkOut& o, const ChunkPos& c, int64_t blk,
                                   const float* dcsA, const float* rowPart, const float* colPart,
                                   const float* Ev, float gh, bool hasG, const float* parts) {
    const KDims& d = v.d;
    const int L = c.L, P = d.P;
    const int warp = int(threadIdx.x) >> 5, lane = int(threadIdx.x) & 31;
    float* part = o.partials + blk * int64_t(1 + P);
    if (warp == 0) {
        constexpr int passes = TY / 4;  // 16 · TY threads, kC = 64 columns
        float a[2];
#pragma unroll
        for (int k = 0; k < 2; ++k) {
            const int j = kC - 1 - 2 * lane - k;
            float x = 0.0f;
            if (j < L) {
                float colX = 0.0f;
                for (int q = 0; q < passes; ++q) colX += colPart[q * kC + j];
                x = dcsA[j] + (rowPart[j] + rowPart[kC + j]) - colX - Ev[j] +
                    (j == L - 1 && hasG ? gh : 0.0f);
            }
            a[k] = x;
        }
        warpScan64(a[0], a[1]);
#pragma unroll
        for (int k = 0; k < 2; ++k) {
            const int j = kC - 1 - 2 * lane - k;
            if (j < L) o.g.dadt[(c.row0 + j) * d.H + c.h] += a[k];
        }
    } else if (warp == 1) {
        for (int p = lane; p < P; p += 32) {
            float s = 0.0f;
            for (int q = 0; q < TY; ++q) s += parts[(TY + q) * kC + p];
            part[1 + p] = s;
        }
    } else if (warp == 2) {
        float sD = 0.0f;
        for (int p = lane; p < P; p += 32) {
            float s = 0.0f;
            for (int q = 0; q < TY; ++q) s += parts[q * kC + p];
            sD += s;
        }
        sD = lectern::cuda::detail::warpSum(sD);
        if (lane == 0) part[0] = sD;
    }
}

// acc = h_in + (1 − trap_{t0}) dt_{t0} v_{t0−1} k_{t0−1}ᵀ (the first token's pending term):
// k and raw x of token t0 − 1 into kin and red, to be covered by loadScalars' barrier; returns
// the weight (1 − trap_{t0}) dt_{t0} (0 for a row's first chunk, kin and red zeros then).
__device__ inline float pendingTerm(const Dev& v, const ChunkPos& c, float* kin, float* red) {
    const KDims& d = v.d;
    const bool hasPrev = c.t0 > 0;
    for (int n = threadIdx.x; n < d.N; n += blockDim.x)
        kin[n] = !hasPrev ? 0.0f
                 : v.kB   ? bf16Bits(v.kB[v.qkOff(c.row0 - 1, c.h) + n])
                          : v.in.k[v.qkOff(c.row0 - 1, c.h) + n];
    if (threadIdx.x < kMaxP)
        red[threadIdx.x] = hasPrev && int(threadIdx.x) < d.P
                               ? v.in.x[v.xOff(c.row0 - 1, c.h) + threadIdx.x]
                               : 0.0f;
    return hasPrev ? (1.0f - v.in.trap[c.row0 * d.H + c.h]) * v.in.dt[c.row0 * d.H + c.h] : 0.0f;
}

// Phase C: every per-token gradient of one chunk (see the file comment and the notes).
// Every global load is issued early: the tiles by cp.async at the start (one latency), G_c
// and the next checkpoint together, the old values of dq, dk, dx before their products.
// next: the linear index of the chunk this block does after this one (-1: none), whose
// tiles are prefetched into L2 once this chunk's are in shared memory. QB (TC only): q and k
// from bf16 (v.qB, v.kB) through registers, exact in TF32: never rounded, and k's rounding
// pass skipped.
template <int NJ, int TY, bool TC, bool QB>
__device__ inline void chunkBackwardBody(const Dev& v, const ChunkOut& o, const ChunkPos c,
                                         int64_t next) {
    static_assert(TC || !QB, "bf16 q / k only in the tensor-core form");
    constexpr int MI = kC / TY;
    // Which of q's products take it as rounded already (bf16 q: every one).
    constexpr int kQa = QB ? kRoundedA : 0, kQb = QB ? kRoundedB : 0;
    extern __shared__ float smem[];
    const KDims& d = v.d;
    float* Qs = smem;            // [kC][kLdN] q
    float* Ks = Qs + kC * kLdN;  // [kC][kLdN] k
    float* Hs = Ks + kC * kLdN;  // [kMaxP][kLdN] acc, later G_c
    float* Ys = Hs + kC * kLdN;  // [kC][kLdS] dy
    float* Vs = Ys + kC * kLdS;  // [kC][kLdS] v
    float* Ss = Vs + kC * kLdS;  // [kC][kC] q_i·k_s, then M ⊙ it strictly below the diagonal
    float* Ps = Ss + kC * kLdS;  // [kC][kC] dy_i·v_s, likewise
    float* As = Ps + kC * kLdS;  // [kC][kC] W ⊙ (dy_i·v_s), later the dD / dmimo_x parts
    auto& sc = *reinterpret_cast<ChunkScalars*>(As + kC * kLdS);
    float* vec = reinterpret_cast<float*>(&sc + 1);
    float *Sd = vec, *Pd = vec + kC, *dcsA = vec + 2 * kC, *Ev = vec + 3 * kC;
    float* kin = vec + 4 * kC;          // kMaxN
    float* red = kin + kMaxN;           // 64 floats
    float* rowPart = red + 64;          // [2][kC]: Σ_s X_is over s < 32 and s ≥ 32
    float* colPart = rowPart + 2 * kC;  // [blockDim / 64][kC]: Σ_i X_is over i ≡ pass
    // G_c: the tensor-core form stages it with the tiles, in a tile of its own, and its
    // 64-wide products go through As's [kC][kLdS] once A3 is dead; the fp32 form loads it
    // into Hs once acc is done with (its products need no scratch).
    float* Gs = TC ? vec + kVecFloats : Hs;  // [kMaxP][kLdN]
    const int L = c.L, P = d.P, N = d.N, ty = tileRow(), tx = tileCol();
    const int64_t PN = int64_t(P) * N, blk = (c.b * v.nChk + c.c) * d.H + c.h;
    const float* S0 = o.starts + blk * PN;
    BfTile<TY> qb, kb;  // QB: in flight while the other tiles and the scalars load
    if constexpr (QB) {
        v.template loadBf<TY>(qb, v.qB, c);
        v.template loadBf<TY>(kb, v.kB, c);
    } else {
        v.template asyncQ<TY>(Qs, c);
        v.template asyncK<TY>(Ks, c);
    }
    v.template asyncDy<TY>(Ys, c);
    v.template asyncX<TY>(Vs, c);  // raw x: times mimo_x below
    asyncTile<kLdN, TY>(Hs, P, N, S0, N);
    const bool hasG = c.c + 1 < v.nChk;  // G_c is zero for the last chunk
    const float* Gc = o.G + blk * PN;
    const float* S1 = o.starts + (blk + d.H) * PN;  // h_out: chunk c + 1's checkpoint
    float gh = 0.0f;                                // ⟨G_c, h_out⟩: this thread's part
    GRegs<TY> s1;
    if constexpr (TC) {
        asyncTile<kLdN, TY>(Gs, hasG ? P : 0, N, Gc, N);
        if (hasG) loadOwnG<TY>(s1, S1, P, N);
    }
    const bool hasPrev = c.t0 > 0;
    const float pi0 = pendingTerm(v, c, kin, red);
    v.loadScalars(sc, c);
    if constexpr (QB) {
        storeBfTile<TY>(qb, Qs);
        storeBfTile<TY>(kb, Ks);
    }
    cpAsyncWait();
    if (v.in.mimoX) fixOwn<kLdS, TY>([&](int e, int, int p) { Vs[e] *= sc.mx[p]; });
    // acc's pending term; k and acc only ever feed products: rounded for the tensor cores once,
    // here (one pass for both; bf16 k is exact already).
    if (TC || hasPrev)
        fixOwn<kLdN, TY>([&](int e, int p, int n) {
            float h = Hs[e];
            if (hasPrev && p < P && n < N) h += pi0 * (red[p] * sc.mx[p]) * kin[n];
            Hs[e] = tcRound<TC>(h);
            if constexpr (TC && !QB) Ks[e] = tcRound<TC>(Ks[e]);
        });
    if constexpr (TC)
        if (hasG) gh = ownDotG<TY, TC>(Gs, s1);
    __syncthreads();
    // S = Q Kᵀ, Pm = dY Vᵀ.
    productStore<TY, TC, kQa | kRoundedB>(Ss, Qs, kLdN, 1, Ks, 1, kLdN, N);
    productStore<TY, TC, 0>(Ps, Ys, kLdS, 1, Vs, 1, kLdS, P);
    __syncthreads();
    if (next >= 0) prefetchChunk(v, o.starts, o.G, v.pos(next));
    // One pass over the C × C products: A3 = M ⊙ w ⊙ Pm (diagonal included); Ss, Ps ← M ⊙ them
    // strictly below the diagonal; the diagonals; and the log-decay terms of the intra-chunk
    // sums, X_is = M_is w_is S_is Pm_is (s < i), summed by rows (token i's cs: a warp holds
    // 32 s of one row) and by columns (token s's, negative: a thread's rows i ≡ its pass).
    {
        const int s = int(threadIdx.x) & (kC - 1), i0 = int(threadIdx.x) / kC;
        constexpr int passes = TY / 4;  // 16 · TY threads, kC = 64 columns
        float col = 0.0f;
        for (int i = i0; i < kC; i += passes) {
            const int x = i * kLdS + s;
            const float sv = Ss[x], pm = Ps[x];
            if (s == i) Sd[i] = sv, Pd[i] = pm;
            const MaskedPair q = maskPair(sc, i, s, sv, pm);
            As[x] = tcRound<TC>(q.a3);
            Ss[x] = tcRound<TC>(q.s);
            Ps[x] = tcRound<TC>(q.p);
            col += q.X;
            rowPartOf(q.X, rowPart, i, s);
        }
        colPart[i0 * kC + s] = col;
    }
    __syncthreads();
    // Where token r's row of q, k, dq, dk starts (−1: past the chunk).
    auto qkRow = [&](int r) -> int64_t { return r < L ? v.qkOff(c.row0 + r, c.h) : -1; };
    // dq and dk by float2 where N is even (rows 8-byte aligned; the tests' odd N take the
    // scalar form).
    const bool pairs =
        (N & 1) == 0 &&
        ((reinterpret_cast<uintptr_t>(o.g.dq) | reinterpret_cast<uintptr_t>(o.g.dk)) & 7) == 0;
    // dq_i = e^{cs_i} accᵀ dy_i + Σ_{s ≤ i} W_is (dy_i·v_s) k_s.
    {
        product2<TY, TC, kRoundedB, kRoundedA | kRoundedB, NJ>(
            o.g.dq, pairs, !o.writeQkx, N, qkRow, [](int, int, float t) { return t; }, Ys, kLdS, 1,
            Hs, kLdN, 1, P, sc.ecs, As, kLdS, 1, Ks, kLdN, 1, L);
    }
    if constexpr (TC) __syncthreads();  // the next product's trip through As: dq has read A3
    // dcs_j's acc term: e^{cs_j} ⟨dy_j, acc q_j⟩.
    {
        float t[MI][4];
        zero(t);
        product<TY, TC, kQa | kRoundedB>(t, Qs, kLdN, 1, Hs, 1, kLdN, N, As);
        dcsAccTerm<TY>(
            t, [&](int, int, int r, int p) { return Ys[r * kLdS + p]; }, sc, dcsA);
    }
    // fp32 form: G_c into Hs by cp.async once acc is done with, h_out loaded meanwhile.
    if constexpr (!TC) {
        __syncthreads();
        asyncTile<kLdN, TY>(Gs, hasG ? P : 0, N, Gc, N);
        if (hasG) {
            loadOwnG<TY>(s1, S1, P, N);
            cpAsyncWait();
            gh = ownDotG<TY, TC>(Gs, s1);
        }
    }
    gh = lectern::cuda::detail::blockSum(gh, red);  // ends with the barrier Gs needs
    // Zstrict_s = Σ_{i > s} M_is S_is dy_i + e^{cs_last − cs_s} G k_s  (rows s, columns p),
    // E_s = w_{last,s} e^{cs_last − cs_s} ⟨v_s, G k_s⟩, and from Zstrict: dv, dγ, ζ, and this
    // thread's parts of the dD (Σ dy·v) and dmimo_x (Σ dv ⊙ x) sums, into As (A3 is dead).
    {
        auto xRow = [&](int r) -> int64_t { return r < L ? v.xOff(c.row0 + r, c.h) : -1; };
        float dxOld[MI][4], xr[MI][4];
        prefetch<MI, 4, TY>(dxOld, o.g.dx, xRow, o.writeQkx ? 0 : P);
        prefetch<MI, 4, TY>(xr, v.in.x, xRow, P);
        float t[MI][4];
        zero(t);
        product<TY, TC, kRoundedA | kRoundedB>(t, Ks, kLdN, 1, Gs, 1, kLdN, N, As);
        evRows<TY>(
            t, [&](int, int, int r, int p) { return Vs[r * kLdS + p]; }, sc, Ev);
        product<TY, TC, kRoundedA>(t, Ss, 1, kLdS, Ys, kLdS, 1, L, As);
        dvEpilogue<TY>(
            v, o, c, sc, Sd, t, dxOld, xr,
            [&](int, int, int r, int p) { return make_float2(Ys[r * kLdS + p], Vs[r * kLdS + p]); },
            As);
    }
    // dk_s = γ_s (Ystrict_s + (dy_s·v_s) q_s) + piN_s Ystrict_s, Ystrict_s = Σ_{i > s} M_is
    // (dy_i·v_s) q_i + e^{cs_last − cs_s} Gᵀ v_s  (rows s, columns n).
    {
        product2<TY, TC, kRoundedB, kRoundedA | kQb, NJ>(
            o.g.dk, pairs, !o.writeQkx, N, qkRow,
            [&](int r, int n, float t) {
                return sc.gam[r] * (t + Pd[r] * Qs[r * kLdN + n]) + sc.piN[r] * t;
            },
            Vs, kLdS, 1, Gs, kLdN, 1, P, sc.dec, Ps, 1, kLdS, Qs, kLdN, 1, L);
    }
    __syncthreads();
    finishChunk<TY>(v, o, c, blk, dcsA, rowPart, colPart, Ev, gh, hasG, As);
}

template <int NJ, int TY, bool TC, bool QB = false>
__global__ void __launch_bounds__(16 * TY, 1) chunkBackwardKernel(Dev v, ChunkOut o) {
    // Persistent: one block a multiprocessor walks chunks lin, lin + gridDim.x, ... and has
    // the next one's tiles prefetched into L2 while it computes this one.
    const int64_t total = v.batch * v.nChk * v.d.H;
    for (int64_t lin = blockIdx.x; lin < total; lin += gridDim.x) {
        chunkBackwardBody<NJ, TY, TC, QB>(v, o, v.pos(lin),
                                          lin + gridDim.x < total ? lin + gridDim.x : -1);
        __syncthreads();  // the next chunk's tiles overwrite this one's
    }
}

// Phase D: ddt_t += ζ_{t−1}(1 − trap_t) + dγ_t trap_t,  dtrap_t += (dγ_t − ζ_{t−1}) dt_t.
__global__ void tokenScalarGradKernel(int H, int64_t T, int64_t rows, const float* tokScal,
                                      ops::SsmScanInputs in, SsmScanGrads g) {
    const int64_t th = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (th >= rows * H) return;
    const int64_t t = (th / H) % T;
    const float dg = tokScal[th], zp = t > 0 ? tokScal[rows * H + th - H] : 0.0f;
    const float tr = in.trap[th], dt = in.dt[th];
    g.ddt[th] += zp * (1.0f - tr) + dg * tr;
    g.dtrap[th] += (dg - zp) * dt;
}

struct WsLayout {
    int64_t G, decay, tokScal, partials, total;
};
WsLayout wsLayout(const ops::Mamba3Dims& d, int64_t batch, int64_t T, int64_t chunk) {
    const int64_t nChk = (T + chunk - 1) / chunk, blocks = batch * nChk * d.H;
    WsLayout w{};
    w.G = 0;
    w.decay = blocks * d.P * d.N;
    w.tokScal = w.decay + blocks;
    w.partials = w.tokScal + 2 * batch * T * d.H;
    w.total = w.partials + blocks * (1 + d.P);
    return w;
}

// Blocks of 512 threads (a 32 × 16 thread grid, 2 rows a thread) by default: one block is
// resident per multiprocessor (188 KB of shared memory, 221 KB with the tensor cores' scratch),
// and 16 warps hide its latencies
// better than 8 (H100, benchmark shape: 16.2 against 19.5 ms). LECTERN_SCAN_BWD_THREADS=256
// (read once): 16 × 16, 4 rows a thread. A benchmarking knob.
bool wideBlocks() {
    static const bool v = [] {
        const char* e = std::getenv("LECTERN_SCAN_BWD_THREADS");
        return e == nullptr || std::atoi(e) != 256;
    }();
    return v;
}

// Phase C's grid: one block a chunk (no prefetch), or with LECTERN_SCAN_BWD_PERSISTENT=1 (read
// once) one persistent block a multiprocessor that walks several chunks and prefetches the
// next one's tiles into L2. A benchmarking knob: on the H100 the persistent form was no
// faster (benchmark shape, tf32: 5.76 against 5.69 ms; fp32 8.60 against 8.50).
unsigned phaseCBlocks(int64_t chunks) {
    static const bool persistent = [] {
        const char* e = std::getenv("LECTERN_SCAN_BWD_PERSISTENT");
        return e != nullptr && std::strcmp(e, "1") == 0;
    }();
    int dev = 0, sms = 0;
    if (!persistent || cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
        sms <= 0)
        return unsigned(chunks);
    return unsigned(std::min<int64_t>(chunks, sms));
}

}  // namespace

bool chunkedBackwardSupports(const ops::Mamba3Dims& d, int64_t chunk) {
    return d.R == 1 && d.P > 0 && d.P <= kMaxP && d.N > 0 && d.N <= kMaxN && d.H > 0 && chunk > 0 &&
           chunk <= kC;
}

int64_t chunkedBackwardWorkspaceFloats(const ops::Mamba3Dims& d, int64_t batch, int64_t T,
                                       int64_t chunk) {
    if (batch <= 0 || T <= 0 || !chunkedBackwardSupports(d, chunk)) return 0;
    return wsLayout(d, batch, T, chunk).total;
}

cudaError_t chunkedBackward(const ops::Mamba3Dims& d, const ops::SsmScanInputs& in,
                            const float* starts, int64_t batch, int64_t T, int64_t chunk,
                            const float* dy, const SsmScanGrads& g, float* workspace,
                            cudaStream_t s, ChunkProducts tc, bool writeQkx, const void* qkBf16) {
    if (!chunkedBackwardSupports(d, chunk) || batch > 65535) return cudaErrorInvalidValue;
    if (qkBf16 != nullptr && tc != ChunkProducts::Tf32) return cudaErrorInvalidValue;
    if (batch == 0 || T == 0) return cudaSuccess;
    const WsLayout w = wsLayout(d, batch, T, chunk);
    const int64_t nChk = (T + chunk - 1) / chunk, PN = int64_t(d.P) * d.N;
    const auto* qB = static_cast<const uint16_t*>(qkBf16);
    const Dev v{lectern::cuda::detail::kdims(d),
                in,
                dy,
                T,
                chunk,
                nChk,
                batch,
                qB,
                qB != nullptr ? qB + batch * T * d.H * int64_t(d.N) : nullptr};
    const ChunkOut o{
        g, starts, workspace + w.G, workspace + w.tokScal, workspace + w.partials, writeQkx};
    const dim3 grid(unsigned(nChk), unsigned(d.H), unsigned(batch));
    const size_t bytesA = (size_t(kC) * kLdN + size_t(kC) * kLdS) * 4 + sizeof(ChunkScalars);
    const size_t bytesC = chunkSmemFloats(tc == ChunkProducts::Tf32) * 4;
    const unsigned threads = wideBlocks() ? 512 : 256;
    const int64_t chunks = batch * nChk * d.H;
    auto run = [&](auto* kA, auto* kC_) -> cudaError_t {
        if (cudaError_t e =
                cudaFuncSetAttribute(kA, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytesA));
            e != cudaSuccess)
            return e;
        if (cudaError_t e =
                cudaFuncSetAttribute(kC_, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytesC));
            e != cudaSuccess)
            return e;
        // The largest shared-memory carveout, a hint (its error ignored): phase C has run with
        // it since helper S4's bf16-tile form, which needed it (removed: no faster).
        cudaFuncSetAttribute(kC_, cudaFuncAttributePreferredSharedMemoryCarveout,
                             int(cudaSharedmemCarveoutMaxShared));
        kA<<<grid, threads, bytesA, s>>>(v, workspace + w.G, workspace + w.decay);
        carryStateGradKernel<<<dim3(unsigned((PN + 255) / 256), unsigned(d.H), unsigned(batch)),
                               256, 0, s>>>(d.H, PN, nChk, workspace + w.G, workspace + w.decay);
        kC_<<<phaseCBlocks(chunks), threads, bytesC, s>>>(v, o);
        return cudaGetLastError();
    };
    auto pickQb = [&](auto tc, auto qb) -> cudaError_t {
        constexpr bool kTc = decltype(tc)::value, kQb = decltype(qb)::value;
        return wideBlocks() ? d.N <= 64 ? run(chunkStateGradKernel<4, 32, kTc>,
                                              chunkBackwardKernel<4, 32, kTc, kQb>)
                                        : run(chunkStateGradKernel<8, 32, kTc>,
                                              chunkBackwardKernel<8, 32, kTc, kQb>)
               : d.N <= 64
                   ? run(chunkStateGradKernel<4, 16, kTc>, chunkBackwardKernel<4, 16, kTc, kQb>)
                   : run(chunkStateGradKernel<8, 16, kTc>, chunkBackwardKernel<8, 16, kTc, kQb>);
    };
    auto pick = [&](auto tc) -> cudaError_t {
        if constexpr (decltype(tc)::value)
            if (qB != nullptr) return pickQb(tc, std::true_type{});
        return pickQb(tc, std::false_type{});
    };
    cudaError_t e = tc == ChunkProducts::Tf32 ? pick(std::true_type{}) : pick(std::false_type{});
    if (e != cudaSuccess) return e;
    const int64_t rows = batch * T;
    tokenScalarGradKernel<<<unsigned((rows * d.H + 255) / 256), 256, 0, s>>>(
        d.H, T, rows, workspace + w.tokScal, in, g);
    if (e = cudaGetLastError(); e != cudaSuccess) return e;
    return sumScanPartials(d.H, d.P, batch * nChk, workspace + w.partials, g.dD, g.dmimoX, s);
}

}  // namespace lectern::train::cuda::detail
