// cuBLASLt bf16 GEMMs (engine/cuda/gemm_lt.h): the attachments (cuBLAS handle -> Lt handle
// and workspace), one cached plan per shape (descriptors + the chosen algorithm, made once:
// host-only work, so a plan can be made inside graph capture), the table of measured
// configurations on sm_90 and the pieces bench_gemm_lt's search builds algorithms from.
#include <algorithm>
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

// The configuration that beat the heuristic's first choice on an H100 for this exact shape
// (bench_gemm_lt search; NOTES-gpu.md). Built and checked when the shape's plan is made;
// where the check fails (another library may not know it) the heuristic's first runs.
struct Winner {
    bool transA, transB;
    int m, n, k;
    bool outBf16, accumulate;
    LtAlgoConfig cfg;  // id, tile, stages, splitK, reduction, swizzle, custom, cluster, inner
};
// Measured on an H100 80GB HBM3 (sm_90, cuBLASLt 130100), 2026-11-23 04:50 and 04:56 UTC.
// Every entry gives the same bits as the heuristic's first (no split-K); only the speed differs.
constexpr Winner kSm90Winners[] = {
    // prefill in_proj (8 x 2,048 and 1 x 16,384 rows), fp32 and bf16 out: found by the search
    // (tile 30, custom 0, cluster 1x2x1); in the prefill profile 39.2 -> 38.0 ms over 48 layers
    // against the heuristic's #2 (tile 23, custom 4, cluster 2x1x1), taken before; the whole
    // prefill within its noise (NOTES-gpu.md)
    {true, false, 8672, 16384, 2048, false, false, {66, 30, 35, 1, 0, 0, 0, 5, 0}},
    {true, false, 8672, 16384, 2048, true, false, {66, 30, 35, 1, 0, 0, 0, 5, 0}},
    // training ~125M at 4 x 4,096: the heuristic's candidates G1 picked (04:27 UTC), named in
    // full: forward in_proj 0.164 vs 0.168 ms, forward out_proj, backward out_proj din 0.070 vs
    // 0.081
    {true, false, 3432, 16384, 768, false, false, {66, 240, 35, 1, 0, 0, 6, 5, 0}},
    {true, false, 768, 16384, 1536, false, false, {66, 29, 35, 1, 0, 0, 1, 3, 0}},
    {false, false, 1536, 16384, 768, false, false, {66, 20, 35, 1, 0, 0, 1, 3, 0}},
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
                        "TABLE {%7[a-z], %7[a-z], %d, %d, %d, %7[a-z], %7[a-z], {%d, %d, %d, %d, "
                        "%d, %d, %d, %d, %d}}",
                        ta, tb, &w.m, &w.n, &w.k, ob, ac, &c.id, &c.tile, &c.stages, &c.splitK,
                        &c.reduction, &c.swizzle, &c.custom, &c.cluster, &c.inner) != 16)
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

// Config attributes are 32 bits except the inner and cluster shape ids (16); -1 unreadable.
template <typename T>
int attr(const cublasLtMatmulAlgo_t& a, cublasLtMatmulAlgoConfigAttributes_t which) {
    T v = 0;
    size_t written = 0;
    if (cublasLtMatmulAlgoConfigGetAttribute(&a, which, &v, sizeof v, &written) !=
        CUBLAS_STATUS_SUCCESS)
        return -1;
    return int(v);
}

template <typename T>
cublasStatus_t setAttr(cublasLtMatmulAlgo_t& a, cublasLtMatmulAlgoConfigAttributes_t which,
                       int value) {
    const T v = T(value);
    return cublasLtMatmulAlgoConfigSetAttribute(&a, which, &v, sizeof v);
}

uint32_t capU32(const cublasLtMatmulAlgo_t& a, cublasLtMatmulAlgoCapAttributes_t which) {
    uint32_t v = 0;
    size_t written = 0;
    return cublasLtMatmulAlgoCapGetAttribute(&a, which, &v, sizeof v, &written) ==
                   CUBLAS_STATUS_SUCCESS
               ? v
               : 0;
}

cudaDataType_t outType(const LtGemm& g) {
    return g.outBf16 ? CUDA_R_16BF : CUDA_R_32F;
}

int initAlgo(cublasLtHandle_t lt, const LtGemm& g, int id, cublasLtMatmulAlgo_t& out) {
    return int(cublasLtMatmulAlgoInit(lt, CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_16BF, CUDA_R_16BF,
                                      outType(g), outType(g), id, &out));
}

// An algorithm of configuration c for the plan's descriptors x: every attribute set, then
// cublasLtMatmulAlgoCheck, the alignments the kernel needs against g's pointers, and the
// workspace it needs against the limit. 0 when it may run, else a cublasStatus_t.
int buildAlgo(cublasLtHandle_t lt, const Descs& x, const LtGemm& g, const LtAlgoConfig& c,
              size_t workspaceBytes, cublasLtMatmulAlgo_t& out, size_t* workspaceNeeded) {
    if (x.status != CUBLAS_STATUS_SUCCESS) return int(x.status);
    cublasLtMatmulAlgo_t a{};
    if (const int st = initAlgo(lt, g, c.id, a)) return st;
    using A = cublasLtMatmulAlgoConfigAttributes_t;
    const cublasStatus_t sets[] = {
        setAttr<uint32_t>(a, A(CUBLASLT_ALGO_CONFIG_TILE_ID), c.tile),
        setAttr<uint32_t>(a, A(CUBLASLT_ALGO_CONFIG_STAGES_ID), c.stages),
        setAttr<int32_t>(a, A(CUBLASLT_ALGO_CONFIG_SPLITK_NUM), c.splitK),
        setAttr<uint32_t>(a, A(CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME), c.reduction),
        setAttr<uint32_t>(a, A(CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING), c.swizzle),
        setAttr<uint32_t>(a, A(CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION), c.custom),
        setAttr<uint16_t>(a, A(CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID), c.cluster),
        setAttr<uint16_t>(a, A(CUBLASLT_ALGO_CONFIG_INNER_SHAPE_ID), c.inner)};
    for (const cublasStatus_t st : sets)
        if (st != CUBLAS_STATUS_SUCCESS) return int(st);
    cublasLtMatmulHeuristicResult_t r{};
    const cublasStatus_t st = cublasLtMatmulAlgoCheck(lt, x.op, x.a, x.b, x.d, x.d, &a, &r);
    if (st != CUBLAS_STATUS_SUCCESS) return int(st);
    if (r.workspaceSize > workspaceBytes) return int(CUBLAS_STATUS_NOT_SUPPORTED);
    const uint32_t need[] = {capU32(a, CUBLASLT_ALGO_CAP_MIN_ALIGNMENT_A_BYTES),
                             capU32(a, CUBLASLT_ALGO_CAP_MIN_ALIGNMENT_B_BYTES),
                             capU32(a, CUBLASLT_ALGO_CAP_MIN_ALIGNMENT_C_BYTES),
                             capU32(a, CUBLASLT_ALGO_CAP_MIN_ALIGNMENT_D_BYTES)};
    // What the kernel may assume: pointer and leading dimension (in bytes) both aligned.
    const size_t outBytes = g.outBf16 ? 2 : 4;
    auto aligned = [](const void* p, size_t ldBytes) {
        return std::min(alignOf(p), alignOf(reinterpret_cast<const void*>(ldBytes)));
    };
    const uint32_t have[] = {aligned(g.A, size_t(g.lda) * 2), aligned(g.B, size_t(g.ldb) * 2),
                             aligned(g.D, size_t(g.ldd) * outBytes),
                             aligned(g.D, size_t(g.ldd) * outBytes)};
    for (int i = 0; i < 4; ++i)
        if (have[i] < need[i]) return int(CUBLAS_STATUS_NOT_SUPPORTED);
    if (workspaceNeeded) *workspaceNeeded = r.workspaceSize;
    out = a;
    return 0;
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
    return {attr<int32_t>(a, CUBLASLT_ALGO_CONFIG_ID),
            attr<uint32_t>(a, CUBLASLT_ALGO_CONFIG_TILE_ID),
            attr<uint32_t>(a, CUBLASLT_ALGO_CONFIG_STAGES_ID),
            attr<int32_t>(a, CUBLASLT_ALGO_CONFIG_SPLITK_NUM),
            attr<uint32_t>(a, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME),
            attr<uint32_t>(a, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING),
            attr<uint32_t>(a, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION),
            attr<uint16_t>(a, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID),
            attr<uint16_t>(a, CUBLASLT_ALGO_CONFIG_INNER_SHAPE_ID)};
}

bool gemm_lt_table_config(const LtGemm& g, int sm, LtAlgoConfig& out) {
    if (sm != 90) return false;
    for (const Winner& w : winners()) {
        if (w.transA == g.transA && w.transB == g.transB && w.m == g.m && w.n == g.n &&
            w.k == g.k && w.outBf16 == g.outBf16 && w.accumulate == g.accumulate) {
            out = w.cfg;
            return true;
        }
    }
    return false;
}

int gemm_lt_algo_ids(cublasLtHandle_t lt, const LtGemm& g, std::vector<int>& ids) {
    ids.assign(1024, 0);
    int n = 0;
    const cublasStatus_t st =
        cublasLtMatmulAlgoGetIds(lt, CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_16BF, CUDA_R_16BF,
                                 outType(g), outType(g), int(ids.size()), ids.data(), &n);
    ids.resize(st == CUBLAS_STATUS_SUCCESS ? size_t(n) : 0);
    return int(st);
}

int gemm_lt_init_algo(cublasLtHandle_t lt, const LtGemm& g, int id, cublasLtMatmulAlgo_t& out) {
    return initAlgo(lt, g, id, out);
}

int gemm_lt_make_algo(cublasLtHandle_t lt, const LtGemm& g, const LtAlgoConfig& c,
                      size_t workspaceBytes, cublasLtMatmulAlgo_t& out, size_t* workspaceNeeded) {
    Descs x;
    makeDescs(x, g, workspaceBytes);
    return buildAlgo(lt, x, g, c, workspaceBytes, out, workspaceNeeded);
}

int gemm_lt_run_algo(cublasLtHandle_t lt, const LtGemm& g, const cublasLtMatmulAlgo_t& algo,
                     void* workspace, size_t workspaceBytes, cudaStream_t s) {
    Descs x;
    makeDescs(x, g, workspaceBytes);
    if (x.status != CUBLAS_STATUS_SUCCESS) return int(x.status);
    return matmul(lt, x, g, algo, workspace, workspaceBytes, s);
}

size_t gemm_lt_plan_count() {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    return r.plans.size();
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
    auto found = r.plans.find(key);
    if (found == r.plans.end()) {
        // Every distinct row count is a plan (the last segment of each document has its own),
        // so a long-lived process would collect them without end: past the cap they all go.
        // Remaking one is host-only and picks the same algorithm, so nothing else changes.
        if (r.plans.size() >= kMaxLtPlans) r.plans.clear();
        found = r.plans.emplace(key, nullptr).first;
    }
    auto& slot = found->second;
    if (!slot) {
        slot = std::make_unique<Plan>();
        makeDescs(slot->descs, g, a.bytes);
        LtAlgoConfig c;
        std::vector<cublasLtMatmulHeuristicResult_t> cands;
        if (gemm_lt_table_config(g, deviceSm(), c) &&
            buildAlgo(a.lt, slot->descs, g, c, a.bytes, slot->algo, nullptr) == 0) {
            slot->ok = true;
        } else if (heuristic(a.lt, slot->descs, 16, cands) == 0 && !cands.empty()) {
            slot->algo = cands[0].algo;
            slot->ok = true;
        }
    }
    if (!slot->ok) return -1;  // no Lt algorithm for this shape: cublasGemmEx takes it
    return matmul(a.lt, slot->descs, g, slot->algo, a.ws, a.bytes, s);
}

}  // namespace lectern::cuda
