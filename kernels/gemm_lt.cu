// cuBLASLt bf16 GEMMs (engine/cuda/gemm_lt.h): the attachments (cuBLAS handle -> Lt handle
// and workspace), one cached plan per shape (descriptors + the chosen algorithm, made once:
// host-only work, so a plan can be made inside graph capture), and the table of measured
// winners on sm_90.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "cuda/gemm_lt.h"

namespace lectern::cuda {
namespace {

// The heuristic's candidate that beat its first choice on an H100 for this exact shape
// (bench_gemm_lt; NOTES-gpu.md). Taken only where the candidate at `index` still has this
// configuration (another library version may list others); else the first candidate.
struct Winner {
    bool transA, transB;
    int m, n, k;
    bool outBf16, accumulate;
    int index;
    LtAlgoConfig cfg;
};
// Measured on an H100 80GB HBM3 (sm_90, 132 SMs, cuBLASLt 130100), 2026-11-23 04:27 UTC:
// every one of the heuristic's 8 candidates timed (median of 10), all repeating their bits and
// equal to the first's. Cluster -1: the attribute is not readable as 4 bytes (the same for
// every candidate, so it still matches).
constexpr Winner kSm90Winners[] = {
    // prefill in_proj (8 x 2,048 and 1 x 16,384 rows): 0.800 vs 0.822 ms
    {true, false, 8672, 16384, 2048, false, false, 2, {66, 23, 35, 1, 0, 0, 4, -1}},
    // the same with bf16 output (no caller yet): 0.742 vs 0.768 ms
    {true, false, 8672, 16384, 2048, true, false, 2, {66, 23, 35, 1, 0, 0, 4, -1}},
    // training ~125M at 4 x 4,096: forward in_proj 0.165 vs 0.172 ms, forward out_proj 0.067
    // vs 0.072, backward out_proj din 0.070 vs 0.085
    {true, false, 3432, 16384, 768, false, false, 2, {66, 240, 35, 1, 0, 0, 6, -1}},
    {true, false, 768, 16384, 1536, false, false, 6, {66, 29, 35, 1, 0, 0, 1, -1}},
    {false, false, 1536, 16384, 768, false, false, 7, {66, 20, 35, 1, 0, 0, 1, -1}},
};

// LECTERN_GEMM_LT_TABLE=FILE: the TABLE lines bench_gemm_lt prints, in place of the table
// above (to measure a table before it is compiled in); unreadable lines are skipped.
std::vector<Winner> readTable(const char* path) {
    std::vector<Winner> t;
    FILE* f = std::fopen(path, "r");
    if (!f) return t;
    char line[512], ta[8], tb[8], ob[8], ac[8];
    while (std::fgets(line, sizeof line, f)) {
        Winner w{};
        LtAlgoConfig& c = w.cfg;
        if (std::sscanf(line,
                        "TABLE {%7[a-z], %7[a-z], %d, %d, %d, %7[a-z], %7[a-z], %d, {%d, %d, %d, "
                        "%d, %d, %d, %d, %d}}",
                        ta, tb, &w.m, &w.n, &w.k, ob, ac, &w.index, &c.id, &c.tile, &c.stages,
                        &c.splitK, &c.reduction, &c.swizzle, &c.custom, &c.cluster) != 16)
            continue;
        w.transA = std::strcmp(ta, "true") == 0, w.transB = std::strcmp(tb, "true") == 0;
        w.outBf16 = std::strcmp(ob, "true") == 0, w.accumulate = std::strcmp(ac, "true") == 0;
        t.push_back(w);
    }
    std::fclose(f);
    return t;
}

const std::vector<Winner>& winners() {
    static const std::vector<Winner> t = [] {
        const char* e = std::getenv("LECTERN_GEMM_LT_TABLE");
        return e && *e ? readTable(e)
                       : std::vector<Winner>(std::begin(kSm90Winners), std::end(kSm90Winners));
    }();
    return t;
}

bool ltOff() {
    static const bool off = [] {
        const char* e = std::getenv("LECTERN_GEMM_LT");
        return e && std::strcmp(e, "0") == 0;
    }();
    return off;
}

// The largest power of two up to 256 dividing p: what the algorithm may assume.
uint32_t alignOf(const void* p) {
    const auto a = reinterpret_cast<uintptr_t>(p);
    uint32_t al = 256;
    while (al > 1 && a % al != 0) al /= 2;
    return al;
}

struct Descs {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
    cublasLtMatmulPreference_t pref = nullptr;
    cublasStatus_t status = CUBLAS_STATUS_SUCCESS;
    Descs() = default;
    Descs(const Descs&) = delete;
    Descs& operator=(const Descs&) = delete;
    ~Descs() {
        if (pref) cublasLtMatmulPreferenceDestroy(pref);
        if (d) cublasLtMatrixLayoutDestroy(d);
        if (b) cublasLtMatrixLayoutDestroy(b);
        if (a) cublasLtMatrixLayoutDestroy(a);
        if (op) cublasLtMatmulDescDestroy(op);
    }
    void check(cublasStatus_t s) {
        if (status == CUBLAS_STATUS_SUCCESS) status = s;
    }
};

// Descriptors and the heuristic's preference for g (alignments from g's pointers).
void makeDescs(Descs& x, const LtGemm& g, size_t workspaceBytes) {
    x.check(cublasLtMatmulDescCreate(&x.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t ta = g.transA ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t tb = g.transB ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (x.op) {
        x.check(cublasLtMatmulDescSetAttribute(x.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
        x.check(cublasLtMatmulDescSetAttribute(x.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    }
    x.check(cublasLtMatrixLayoutCreate(&x.a, CUDA_R_16BF, g.transA ? g.k : g.m,
                                       g.transA ? g.m : g.k, g.lda));
    x.check(cublasLtMatrixLayoutCreate(&x.b, CUDA_R_16BF, g.transB ? g.n : g.k,
                                       g.transB ? g.k : g.n, g.ldb));
    x.check(
        cublasLtMatrixLayoutCreate(&x.d, g.outBf16 ? CUDA_R_16BF : CUDA_R_32F, g.m, g.n, g.ldd));
    x.check(cublasLtMatmulPreferenceCreate(&x.pref));
    if (!x.pref) return;
    const uint64_t ws = workspaceBytes;
    x.check(cublasLtMatmulPreferenceSetAttribute(x.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                 &ws, sizeof ws));
    const uint32_t al[] = {alignOf(g.A), alignOf(g.B), alignOf(g.D), alignOf(g.D)};
    const cublasLtMatmulPreferenceAttributes_t which[] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4; ++i)
        x.check(cublasLtMatmulPreferenceSetAttribute(x.pref, which[i], &al[i], sizeof al[i]));
}

int heuristic(cublasLtHandle_t lt, const Descs& x, int maxCount,
              std::vector<cublasLtMatmulHeuristicResult_t>& out) {
    if (x.status != CUBLAS_STATUS_SUCCESS) return int(x.status);
    out.assign(size_t(maxCount), cublasLtMatmulHeuristicResult_t{});
    int found = 0;
    const cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(lt, x.op, x.a, x.b, x.d, x.d, x.pref,
                                                            maxCount, out.data(), &found);
    out.resize(s == CUBLAS_STATUS_SUCCESS ? size_t(found) : 0);
    return int(s);
}

int matmul(cublasLtHandle_t lt, const Descs& x, const LtGemm& g, const cublasLtMatmulAlgo_t& algo,
           void* ws, size_t wsBytes, cudaStream_t s) {
    const float one = 1.0f, beta = g.accumulate ? 1.0f : 0.0f;
    return int(cublasLtMatmul(lt, x.op, &one, g.A, x.a, g.B, x.b, &beta, g.D, x.d, g.D, x.d, &algo,
                              ws, wsBytes, s));
}

int attr(const cublasLtMatmulAlgo_t& a, cublasLtMatmulAlgoConfigAttributes_t which) {
    uint32_t v = 0;  // every attribute read here fits 32 bits (ids, counts, enums)
    size_t written = 0;
    if (cublasLtMatmulAlgoConfigGetAttribute(&a, which, &v, sizeof v, &written) !=
        CUBLAS_STATUS_SUCCESS)
        return -1;
    return int(v);
}

bool sameConfig(const LtAlgoConfig& x, const LtAlgoConfig& y) {
    return x.id == y.id && x.tile == y.tile && x.stages == y.stages && x.splitK == y.splitK &&
           x.reduction == y.reduction && x.swizzle == y.swizzle && x.custom == y.custom &&
           x.cluster == y.cluster;
}

struct Attached {
    cublasLtHandle_t lt = nullptr;
    void* ws = nullptr;
    size_t bytes = 0;
};

using PlanKey = std::tuple<cublasLtHandle_t, int, bool, bool, int, int, int, int, int, int, bool,
                           bool, uint32_t, uint32_t, uint32_t>;

struct Plan {
    Descs descs;
    cublasLtMatmulAlgo_t algo{};
    bool ok = false;
};

struct Registry {
    std::mutex mu;
    std::map<cublasHandle_t, Attached> attached;
    std::map<PlanKey, std::unique_ptr<Plan>> plans;
};

Registry& registry() {
    static Registry r;
    return r;
}

int deviceSm() {
    int dev = 0, major = 0, minor = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
    return major * 10 + minor;
}

}  // namespace

void gemm_lt_attach(cublasHandle_t h, cublasLtHandle_t lt, void* workspace, size_t bytes) {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    r.attached[h] = Attached{lt, workspace, bytes};
}

void gemm_lt_detach(cublasHandle_t h) {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    const auto it = r.attached.find(h);
    if (it == r.attached.end()) return;
    // Plans made for this Lt handle go with it (a later handle may reuse its address).
    for (auto p = r.plans.begin(); p != r.plans.end();)
        p = std::get<0>(p->first) == it->second.lt ? r.plans.erase(p) : std::next(p);
    r.attached.erase(it);
}

int gemm_lt_candidates(cublasLtHandle_t lt, const LtGemm& g, size_t workspaceBytes, int maxCount,
                       std::vector<cublasLtMatmulHeuristicResult_t>& out) {
    Descs x;
    makeDescs(x, g, workspaceBytes);
    return heuristic(lt, x, maxCount, out);
}

LtAlgoConfig gemm_lt_config(const cublasLtMatmulAlgo_t& a) {
    return {attr(a, CUBLASLT_ALGO_CONFIG_ID),
            attr(a, CUBLASLT_ALGO_CONFIG_TILE_ID),
            attr(a, CUBLASLT_ALGO_CONFIG_STAGES_ID),
            attr(a, CUBLASLT_ALGO_CONFIG_SPLITK_NUM),
            attr(a, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME),
            attr(a, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING),
            attr(a, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION),
            attr(a, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID)};
}

int gemm_lt_choice(const LtGemm& g, const std::vector<cublasLtMatmulHeuristicResult_t>& cands,
                   int sm) {
    if (sm != 90) return 0;
    for (const Winner& w : winners()) {
        if (w.transA != g.transA || w.transB != g.transB || w.m != g.m || w.n != g.n ||
            w.k != g.k || w.outBf16 != g.outBf16 || w.accumulate != g.accumulate)
            continue;
        if (w.index < int(cands.size()) &&
            sameConfig(gemm_lt_config(cands[size_t(w.index)].algo), w.cfg))
            return w.index;
        return 0;
    }
    return 0;
}

int gemm_lt_run_algo(cublasLtHandle_t lt, const LtGemm& g, const cublasLtMatmulAlgo_t& algo,
                     void* workspace, size_t workspaceBytes, cudaStream_t s) {
    Descs x;
    makeDescs(x, g, workspaceBytes);
    if (x.status != CUBLAS_STATUS_SUCCESS) return int(x.status);
    return matmul(lt, x, g, algo, workspace, workspaceBytes, s);
}

int gemm_lt_run(cublasHandle_t h, const LtGemm& g, cudaStream_t s) {
    if (ltOff()) return -1;
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    const auto at = r.attached.find(h);
    if (at == r.attached.end()) return -1;
    const Attached a = at->second;
    int dev = 0;
    cudaGetDevice(&dev);
    const PlanKey key{a.lt,      dev,          g.transA,     g.transB,     g.m,
                      g.n,       g.k,          g.lda,        g.ldb,        g.ldd,
                      g.outBf16, g.accumulate, alignOf(g.A), alignOf(g.B), alignOf(g.D)};
    auto& slot = r.plans[key];
    if (!slot) {
        slot = std::make_unique<Plan>();
        makeDescs(slot->descs, g, a.bytes);
        std::vector<cublasLtMatmulHeuristicResult_t> cands;
        // 16 candidates: every table index is below that.
        if (heuristic(a.lt, slot->descs, 16, cands) == 0 && !cands.empty()) {
            slot->algo = cands[size_t(gemm_lt_choice(g, cands, deviceSm()))].algo;
            slot->ok = true;
        }
    }
    if (!slot->ok) return -1;  // no Lt algorithm for this shape: cublasGemmEx takes it
    return matmul(a.lt, slot->descs, g, slot->algo, a.ws, a.bytes, s);
}

}  // namespace lectern::cuda
