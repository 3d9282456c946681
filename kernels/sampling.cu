// CUDA twin of greedy decoding in engine/generate/sampling.cpp (argmaxFirst): the index of
// the first largest of logits[0, n), so that decode copies back one id instead of the
// logits. The CPU scan starts at 0 and moves only on '>': NaN never wins, a NaN at 0
// keeps 0, ties go to the lowest index. One block: n is a vocabulary (tens of thousands).
// sample_forward: the sampler's temperature, top-k, top-p and min-p on the device, for a
// uniform draw u made on the host, so that the token equals generate::drawToken(
// samplingDistribution(...), u) (see the comment above sampleKernel).
#include <cmath>
#include <cstdint>

#include "common.cuh"
#include "cuda/cuda_ops.h"

namespace lectern::cuda {
namespace {

constexpr int kThreads = 1024;

// (value, index) with the larger value, ties to the lower index; index INT32_MAX: none.
__device__ __forceinline__ void better(float& v, int32_t& i, float v2, int32_t i2) {
    if (v2 > v || (v2 == v && i2 < i)) {
        v = v2;
        i = i2;
    }
}

// Every thread of the block calls it; thread 0 writes *out.
__device__ void argmaxBlock(const float* logits, int n, int32_t* out) {
    float v = -INFINITY;
    int32_t idx = INT32_MAX;
    for (int j = threadIdx.x; j < n; j += kThreads) {
        const float x = logits[j];
        if (!isnan(x)) better(v, idx, x, j);
    }
    for (int o = 16; o > 0; o /= 2)
        better(v, idx, __shfl_down_sync(0xffffffffu, v, o), __shfl_down_sync(0xffffffffu, idx, o));
    __shared__ float sv[kThreads / 32];
    __shared__ int32_t si[kThreads / 32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0) {
        sv[warp] = v;
        si[warp] = idx;
    }
    __syncthreads();
    if (warp != 0) return;
    v = sv[lane];
    idx = si[lane];
    for (int o = 16; o > 0; o /= 2)
        better(v, idx, __shfl_down_sync(0xffffffffu, v, o), __shfl_down_sync(0xffffffffu, idx, o));
    if (lane == 0) *out = isnan(logits[0]) || idx == INT32_MAX ? 0 : idx;
}

__global__ void argmaxFirstKernel(const float* logits, int n, int32_t* out) {
    argmaxBlock(logits, n, out);
}

// The whole sampler in one block, on probabilities in double as the CPU (exp((l - max) / T),
// NaN -> 0) kept unnormalised in `p` (scratch, n doubles): the CPU's renormalisations scale
// every kept value alike, so its comparisons become comparisons against the kept mass here
// (the two agree except where u or a top-p boundary falls within a few ulps of a cumulative
// sum: about 1e-15 of draws, and u within ulps of 1 where the CPU's running sum rounds up
// to 1 before its last candidate). The masks as the CPU's, in its order:
//   top-k: the K largest by (p descending, id ascending): a radix select over the bits of
//     p (non-negative doubles order as their bit patterns), 8 bits a pass, then the first
//     ids of the threshold's ties;
//   top-p: the same select on mass: keep j while the mass before j (in that order) < P;
//   min-p: keep p >= minP · max p (max p is exp(0) = 1 before any scaling);
//   the draw: the first id (ascending) whose inclusive cumulative mass exceeds u · total.
// Where the CPU falls back to the argmax (no finite maximum), so does this.
struct SampleShared {
    unsigned long long prefix;
    double above, target, red[32], dbin[256];
    int ibin[256], ired[32], ties, keep, found, lastKept;
    float fred[32];
};

__device__ double blockSumD(double v, SampleShared& sh) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) sh.red[threadIdx.x >> 5] = v;
    __syncthreads();
    double t = 0.0;
    for (int w = 0; w < kThreads / 32; ++w) t += sh.red[w];
    return t;
}

__device__ int blockSumI(int v, SampleShared& sh) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) sh.ired[threadIdx.x >> 5] = v;
    __syncthreads();
    int t = 0;
    for (int w = 0; w < kThreads / 32; ++w) t += sh.ired[w];
    return t;
}

__device__ __forceinline__ unsigned long long keyOf(double p) {
    return static_cast<unsigned long long>(__double_as_longlong(p));
}

// The threshold key t of the select (byMass: the first key, descending, at which the mass
// reaches `goal`; else the count reaches `goal`); sh.above = the count or mass of keys > t,
// sh.ties = the number of keys == t (candidates: p > 0 only).
__device__ void radixSelect(const double* p, int n, bool byMass, double goal, SampleShared& sh) {
    if (threadIdx.x == 0) {
        sh.prefix = 0;
        sh.above = 0.0;
    }
    for (int shift = 56; shift >= 0; shift -= 8) {
        for (int b = threadIdx.x; b < 256; b += kThreads) {
            sh.ibin[b] = 0;
            sh.dbin[b] = 0.0;
        }
        __syncthreads();
        const unsigned long long prefix = sh.prefix;
        for (int i = threadIdx.x; i < n; i += kThreads) {
            const double v = p[i];
            if (!(v > 0.0)) continue;
            const unsigned long long k = keyOf(v);
            if (shift < 56 && ((k ^ prefix) >> (shift + 8)) != 0) continue;
            const int d = int((k >> shift) & 255u);
            atomicAdd(&sh.ibin[d], 1);
            if (byMass) atomicAdd(&sh.dbin[d], v);
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            double acc = sh.above;
            int chosen = -1, lowest = -1;
            for (int d = 255; d >= 0; --d) {
                if (sh.ibin[d] == 0) continue;
                lowest = d;
                const double add = byMass ? sh.dbin[d] : double(sh.ibin[d]);
                if (acc + add >= goal) {
                    chosen = d;
                    break;
                }
                acc += add;
            }
            if (chosen < 0) {  // rounding left the goal above the total: keep everything
                chosen = lowest;
                acc -= byMass ? sh.dbin[lowest] : double(sh.ibin[lowest]);
            }
            sh.prefix |= static_cast<unsigned long long>(chosen) << shift;
            sh.above = acc;
            sh.ties = sh.ibin[chosen];
        }
        __syncthreads();
    }
}

// Zeroes p below the threshold key and the ties at it past the first `keep` (by id).
__device__ void applyThreshold(double* p, int n, SampleShared& sh) {
    const unsigned long long t = sh.prefix;
    const int keep = sh.keep, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int running = 0;
    for (int base = 0; base < n; base += kThreads) {
        const int i = base + threadIdx.x;
        const double v = i < n ? p[i] : 0.0;
        const unsigned long long k = keyOf(v);
        const bool tie = v > 0.0 && k == t;
        const unsigned ballot = __ballot_sync(0xffffffffu, tie);
        __syncthreads();
        if (lane == 0) sh.ired[warp] = __popc(ballot);
        __syncthreads();
        int before = running + __popc(ballot & ((1u << lane) - 1u)), total = 0;
        for (int w = 0; w < kThreads / 32; ++w) {
            if (w < warp) before += sh.ired[w];
            total += sh.ired[w];
        }
        if (v > 0.0 && (k < t || (tie && before >= keep))) p[i] = 0.0;
        running += total;
    }
    __syncthreads();
}

__global__ void __launch_bounds__(kThreads)
    sampleKernel(const float* logits, int n, GpuSampling o, double u, double* p, int32_t* out) {
    __shared__ SampleShared sh;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    // The largest non-NaN logit.
    float mxf = -INFINITY;
    for (int i = threadIdx.x; i < n; i += kThreads)
        if (!isnan(logits[i])) mxf = fmaxf(mxf, logits[i]);
    for (int off = 16; off > 0; off >>= 1) mxf = fmaxf(mxf, __shfl_xor_sync(0xffffffffu, mxf, off));
    if (lane == 0) sh.fred[warp] = mxf;
    __syncthreads();
    for (int w = 0; w < kThreads / 32; ++w) mxf = fmaxf(mxf, sh.fred[w]);
    const double mx = double(mxf);
    if (!isfinite(mx)) {  // the CPU's fallback: the argmax of the logits
        argmaxBlock(logits, n, out);
        return;
    }
    double sum = 0.0;
    int count = 0;
    for (int i = threadIdx.x; i < n; i += kThreads) {
        const double l = double(logits[i]);
        const double v = isnan(l) ? 0.0 : exp((l - mx) / double(o.temperature));
        p[i] = v;
        sum += v;
        count += v > 0.0;
    }
    sum = blockSumD(sum, sh);
    count = blockSumI(count, sh);
    if (o.topK > 0 && o.topK < n && o.topK < count) {
        radixSelect(p, n, false, double(o.topK), sh);
        if (threadIdx.x == 0) sh.keep = o.topK - int(sh.above);
        __syncthreads();
        applyThreshold(p, n, sh);
        double s = 0.0;
        for (int i = threadIdx.x; i < n; i += kThreads) s += p[i];
        sum = blockSumD(s, sh);
    }
    if (o.topP < 1.0f) {
        const double goal = double(o.topP) * sum;
        radixSelect(p, n, true, goal, sh);
        if (threadIdx.x == 0) {
            // The ties at the threshold, in id order, while the mass before each is < goal
            // (the first candidate always stays).
            const double pt = __longlong_as_double(static_cast<long long>(sh.prefix));
            double cum = sh.above;
            int keep = 0;
            while (keep < sh.ties && (cum < goal || (keep == 0 && sh.above == 0.0))) {
                cum += pt;
                ++keep;
            }
            sh.keep = keep;
        }
        __syncthreads();
        applyThreshold(p, n, sh);
    }
    if (o.minP > 0.0f) {
        const double cut = double(o.minP);  // · max p, which is exp(0) = 1
        for (int i = threadIdx.x; i < n; i += kThreads)
            if (p[i] < cut) p[i] = 0.0;
    }
    __syncthreads();
    double total = 0.0;
    for (int i = threadIdx.x; i < n; i += kThreads) total += p[i];
    total = blockSumD(total, sh);
    if (threadIdx.x == 0) {
        sh.target = u * total;
        sh.found = INT32_MAX;
        sh.lastKept = 0;
    }
    __syncthreads();
    const double target = sh.target;
    double running = 0.0;
    for (int base = 0; base < n; base += kThreads) {
        const int i = base + threadIdx.x;
        const double v = i < n ? p[i] : 0.0;
        double incl = v;  // inclusive scan within the warp
        for (int off = 1; off < 32; off <<= 1) {
            const double o2 = __shfl_up_sync(0xffffffffu, incl, off);
            if (lane >= off) incl += o2;
        }
        __syncthreads();
        if (lane == 31) sh.red[warp] = incl;
        __syncthreads();
        double before = running, chunk = 0.0;
        for (int w = 0; w < kThreads / 32; ++w) {
            if (w < warp) before += sh.red[w];
            chunk += sh.red[w];
        }
        if (v > 0.0) {
            atomicMax(&sh.lastKept, i);
            if (target < before + incl) atomicMin(&sh.found, i);
        }
        __syncthreads();
        if (sh.found != INT32_MAX) break;
        running += chunk;
    }
    if (threadIdx.x == 0) *out = sh.found != INT32_MAX ? sh.found : sh.lastKept;
}

}  // namespace

void argmax_first_forward(const float* logits, int n, int32_t* out, cudaStream_t s) {
    if (n <= 0) return;
    argmaxFirstKernel<<<1, kThreads, 0, s>>>(logits, n, out);
}

void sample_forward(const float* logits, int n, const GpuSampling& o, double u, double* scratch,
                    int32_t* out, cudaStream_t s) {
    if (n <= 0) return;
    if (o.temperature <= 0.0f) {  // greedy, as the CPU
        argmaxFirstKernel<<<1, kThreads, 0, s>>>(logits, n, out);
        return;
    }
    sampleKernel<<<1, kThreads, 0, s>>>(logits, n, o, u, scratch, out);
}

}  // namespace lectern::cuda
