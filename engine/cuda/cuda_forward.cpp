// CudaModel's forward pass: the same op sequence as engine/model/forward.cpp and
// mamba3_block.cpp, on the device, for a batch of documents; prefill in pieces that carry
// the state (bounded memory), and decode steps replayed from a captured CUDA graph.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "cuda/cuda_model.h"
#include "cuda/gemm_lt.h"
#include "cuda/prefill_proj_bf16.h"
#include "cuda/prefill_walk_bf16_out.h"

namespace lectern::cuda {

namespace {

// An A/B knob: true unless the variable is set to "0".
bool envOn(const char* name) {
    const char* e = std::getenv(name);
    return !(e && std::strcmp(e, "0") == 0);
}

}  // namespace

CudaModel::Graph::~Graph() {
    if (exec) cudaGraphExecDestroy(exec);
}

Status CudaModel::ensureScratch(int64_t rows, int batch) {
    if (rows <= scratchRows_ && batch <= scratchBatch_) return Status::ok();
    rows = std::max(rows, scratchRows_);
    batch = std::max(batch, scratchBatch_);
    graphs_.clear();  // captured graphs point into the old scratch
    const ops::Mamba3Dims& d = d_;
    const int64_t D = cfg_.dModel, V = cfg_.vocabPadded(), F = cfg_.mlpHidden();
    const int64_t qk = int64_t(d.R) * d.H * d.N;
    const int64_t sizes[] = {rows * D,
                             rows * D,
                             rows * D,
                             rows * d.dInProj(),
                             rows * qk,
                             rows * qk,
                             rows * d.H,
                             rows * d.H,
                             rows * d.H,
                             rows * d.H * std::max(d.A, 1),
                             rows * d.H * std::max(d.A, 1),
                             rows * d.R * d.H * d.P,
                             rows * d.dInner(),
                             std::max<int64_t>(rows * 3 * F, 1),
                             batch * V};
    float** ptrs[] = {&residual_, &normed_, &delta_, &proj_, &q_,     &k_,   &dt_,    &adt_,
                      &trap_,     &dtheta_, &theta_, &y_,    &gated_, &mlp_, &logits_};
    const int Ck = ssm_chunk_tokens(d);
    const int64_t scanFloats = int64_t(d.H) * (rows / Ck + 2 * batch) * (int64_t(d.P) * d.N + 1);
    const int64_t bfElems = rows * std::max({D, d.dInner(), F});
    // The bf16 scan's incoming chunk states (ScanWorkspace::stateInBf16): half the bytes of
    // the fp32 slots for phases 2 and 3 (NOTES-gpu.md, prefill third pass).
    const bool bf16Scan = gemm_.precision == Precision::Bf16 && ssm_chunk_scan_bf16_fits(d);
    const int64_t stateInElems = bf16Scan ? scanFloats / (int64_t(d.P) * d.N + 1) * d.P * d.N : 0;
    scratch_ = Arena();
    scratch_.reserve(size_t(rows) * 4);
    for (int64_t n : sizes) scratch_.reserve(size_t(n) * 4);
    scratch_.reserve(size_t(scanFloats) * 4);
    scratch_.reserve(size_t(bfElems) * 2);
    if (stateInElems) scratch_.reserve(size_t(stateInElems) * 2);
    if (Status s = scratch_.allocate("activation scratch for " + std::to_string(rows) + " rows");
        !s) {
        scratchRows_ = 0;
        scratchBatch_ = 0;
        return s;
    }
    ids_ = static_cast<int32_t*>(scratch_.take(size_t(rows) * 4));
    for (size_t i = 0; i < std::size(sizes); ++i)
        *ptrs[i] = static_cast<float*>(scratch_.take(size_t(sizes[i]) * 4));
    scan_.chunkStates = static_cast<float*>(scratch_.take(size_t(scanFloats) * 4));
    scan_.floats = scanFloats;
    gemm_.bf16Scratch = scratch_.take(size_t(bfElems) * 2);
    gemm_.bf16ScratchElems = bfElems;
    scan_.stateInBf16 = stateInElems ? scratch_.take(size_t(stateInElems) * 2) : nullptr;
    scratchRows_ = rows;
    scratchBatch_ = batch;
    return Status::ok();
}

void CudaModel::mark(const char* op) {
    if (!prof_ || capturing_) return;
    cudaStreamSynchronize(ctx_->stream());
    const double now =
        std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    if (op) (*prof_)[op] += now - markT_;
    markT_ = now;
}

void CudaModel::mixer(const DeviceLayer& L, const ops::SsmStateRef& st, float* angle, int batch,
                      int64_t T, ScanForm form, int& err) {
    const ops::Mamba3Dims& d = d_;
    const cudaStream_t s = ctx_->stream();
    const int64_t rows = batch * T;
    outProjAdded_ = false;
    const Precision prec = gemm_.precision;
    // The tensor-core scan multiplies q and k in bf16: made so here (q then k in q_'s space,
    // half the bytes written and read), with each document's last k row also in fp32 in k_
    // (it becomes the state's key). LECTERN_SCAN_FP32_QK=1: fp32 q/k (A/B measurement).
    static const bool fp32QK = std::getenv("LECTERN_SCAN_FP32_QK") != nullptr;
    const bool wantQKBf16 = !fp32QK && form == ScanForm::Chunked && prec == Precision::Bf16 &&
                            ssm_chunk_scan_bf16_fits(d);
    // bf16 SISO: scalars, running angles and q/k in one fused preprocess that keeps the
    // increments and angles on chip (NOTES-gpu.md, prefill fifth pass);
    // LECTERN_PREFILL_FUSED_QK=0 restores the three ops below (A/B measurement).
    static const bool fusedOn = envOn("LECTERN_PREFILL_FUSED_QK");
    // SISO with bf16 q/k: the whole-document walk with the gate in its epilogue (one pass
    // over q, k, x and z; NOTES-gpu.md, prefill fourth pass). LECTERN_PREFILL_WALK=0: the
    // three-pass scan and the separate gate (A/B measurement).
    static const bool walkOn = envOn("LECTERN_PREFILL_WALK");
    const bool walkApplies = walkOn && !L.mimoZ && !L.mimoO && ssm_prefill_scan_fits(d);
    // The gate's output in bf16 straight from the walk for out_proj's bf16 GEMM (no fp32
    // gated rows, no conversion pass); LECTERN_PREFILL_GATE_BF16=0: fp32 rows (A/B).
    static const bool gateBf16On = envOn("LECTERN_PREFILL_GATE_BF16");
    const bool gateBf16 = gateBf16On && prec == Precision::Bf16 && L.outProj.bf16 &&
                          rows > kGemvMaxRows && rows * d.dInner() <= gemm_.bf16ScratchElems;
    // in_proj writes bf16 rows (in proj_'s space, ldB apart) where all their readers on this
    // path read bf16: the fused q/k op and the walk with its bf16 gate (prefill_proj_bf16.h);
    // LECTERN_PREFILL_PROJ_BF16=0: fp32 rows (A/B). Where one of them declines after all,
    // in_proj runs again with fp32 rows (widen) and the path below goes on from there.
    static const bool projBf16On = envOn("LECTERN_PREFILL_PROJ_BF16");
    const int64_t ldB = prefill_proj_bf16_stride(d);
    bool projB = projBf16On && normedBf16_ && wantQKBf16 && fusedOn && walkApplies && gateBf16;
    auto inProj = [&] {
        const int e =
            projB ? linear_bf16_io_forward(gemm_, proj_, ldB, gemm_.bf16Scratch, L.inProj, rows, s)
            : normedBf16_
                ? linear_bf16_input_forward(gemm_, proj_, gemm_.bf16Scratch, L.inProj, rows, s)
                : linear_forward(gemm_, proj_, normed_, cfg_.dModel, L.inProj, rows, s);
        if (e && !err) err = 1000 + e;
        mark("in_proj");
    };
    auto widen = [&] {  // the normed rows in gemm_.bf16Scratch are still there
        projB = false;
        inProj();
    };
    inProj();
    const ops::Mamba3PreprocessParams pre{L.dtBias, L.bNorm, L.cNorm, L.bBias, L.cBias};
    const int64_t qkHalf = rows * int64_t(d.R) * d.H * d.N / 2;
    const size_t segBytes = size_t(rows) * d.H * std::max(d.A, 1) * sizeof(float);
    bool fusedQK = false;
    if (wantQKBf16 && fusedOn) {
        fusedQK = projB ? prefill_qk_angles_bf16_proj_forward(d, pre, proj_, ldB, batch, T, angle,
                                                              dtheta_, segBytes, q_, q_ + qkHalf,
                                                              k_, dt_, adt_, trap_, s)
                        : prefill_qk_angles_bf16_forward(d, pre, proj_, batch, T, angle, dtheta_,
                                                         segBytes, q_, q_ + qkHalf, k_, dt_, adt_,
                                                         trap_, s);
        if (projB && !fusedQK) widen();
    }
    if (fusedQK) {
        mark("preprocess + angles + q/k (fused)");
    } else {
        // Scalars and increments, running angles, then q/k normalised and rotated.
        mamba3_preprocess_scalars_forward(d, pre, proj_, rows, dt_, adt_, trap_, dtheta_, s);
        mark("preprocess scalars");
        rotary_theta_forward(d, angle, dtheta_, theta_, batch, T, s);
        mark("rotary angles");
    }
    // The bf16 scan could make q and k itself from the in_proj rows (QKFromProj), but
    // its row-at-a-time norms are latency-bound at 2 blocks per SM: measured slower than
    // writing q/k here and loading them 16 bytes at a time (NOTES-gpu.md), so it is off.
    constexpr bool kQKInScan = false;
    const bool qkInScan = kQKInScan && form == ScanForm::Chunked && prec == Precision::Bf16 &&
                          ssm_chunk_scan_bf16_fits(d) && T / ssm_chunk_tokens(d) < 65535;
    const QKFromProj qkSrc{proj_, pre, theta_};
    const bool qkBf16 = fusedQK || (!qkInScan && wantQKBf16 &&
                                    mamba3_qk_rotated_bf16_forward(d, pre, proj_, rows, T, theta_,
                                                                   q_, q_ + qkHalf, k_, s));
    if (!qkInScan && !qkBf16) mamba3_qk_rotated_forward(d, pre, proj_, rows, theta_, q_, k_, s);
    if (!fusedQK) mark("q/k norm + rotation");
    const ops::SsmScanInputs in{q_,    k_,  proj_ + d.offX(), d.dInProj(), adt_, dt_,
                                trap_, L.D, L.mimoX};
    // The workspace splits into chunk states and, after them, the per-chunk decays.
    const int Ck = ssm_chunk_tokens(d);
    const int64_t nC = (T + Ck - 1) / Ck, PN = int64_t(d.P) * d.N;
    ScanWorkspace ws = scan_;
    ws.chunkDecay = scan_.chunkStates + batch * d.H * nC * PN;
    // LECTERN_SCAN_FP32_STATES=1: the fp32 incoming states (A/B measurement of the bf16 ones).
    static const bool fp32States = std::getenv("LECTERN_SCAN_FP32_STATES") != nullptr;
    if (fp32States) ws.stateInBf16 = nullptr;
    if (qkBf16) ws.qkBf16 = q_;
    const ops::Mamba3GateParams gate{L.mimoZ, L.mimoO, L.outNorm};
    if (qkBf16 && walkApplies) {
        const PrefillGate pg{proj_ + d.offZ(), d.dInProj(), L.outNorm, gated_};
        const cudaError_t e =
            projB      ? ssm_prefill_scan_forward_bf16_proj(d, in, proj_, ldB, batch, T, st, ws, s,
                                                            L.outNorm, gemm_.bf16Scratch)
            : gateBf16 ? ssm_prefill_scan_forward_bf16_gate(d, in, batch, T, st, ws, s, pg,
                                                            gemm_.bf16Scratch)
                       : ssm_prefill_scan_forward(d, in, batch, T, y_, st, ws, s, &pg);
        if (e == cudaSuccess) {
            mark("scan (prefill walk) + gate");
            // out_proj adds into the residual in its epilogue (beta 1): the next norm then
            // reads the residual alone, one tensor less (gemm_lt.h). LECTERN_PREFILL_OUTPROJ_ADD=0:
            // the delta rows (A/B).
            static const bool addOn = envOn("LECTERN_PREFILL_OUTPROJ_ADD");
            outProjAdded_ = gateBf16 && addOn;
            const int e2 =
                outProjAdded_
                    ? linear_bf16_input_add(gemm_, residual_, gemm_.bf16Scratch, L.outProj, rows, s)
                : gateBf16 ? linear_bf16_input_forward(gemm_, delta_, gemm_.bf16Scratch, L.outProj,
                                                       rows, s)
                           : linear_forward(gemm_, delta_, gated_, d.dInner(), L.outProj, rows, s);
            if (e2 && !err) err = 1000 + e2;
            mark("out_proj");
            return;
        }
    }
    if (projB) widen();  // the fallbacks below read fp32 x and z
    const cudaError_t e =
        form == ScanForm::Chunked
            ? ssm_chunk_scan_forward(d, in, batch, T, y_, st, ws, s,
                                     prec == Precision::Bf16 ? ScanMath::Bf16 : ScanMath::Fp32,
                                     qkInScan ? &qkSrc : nullptr)
            : ssm_step_forward(d, in, batch, T, y_, st, s);
    if (e != cudaSuccess && !err) err = int(e);
    mark(form == ScanForm::Chunked ? "scan (chunked)" : "scan (step)");
    mamba3_gate_forward(d, gate, y_, proj_ + d.offZ(), d.dInProj(), rows, gated_, s);
    mark("gate");
    if (int e2 = linear_forward(gemm_, delta_, gated_, d.dInner(), L.outProj, rows, s); e2 && !err)
        err = 1000 + e2;
    mark("out_proj");
}

void CudaModel::copyHidden(std::vector<float>& to, int64_t T) {
    const size_t n = size_t(T * cfg_.dModel), at = to.size();
    to.resize(at + n);
    cudaMemcpyAsync(to.data() + at, residual_, n * 4, cudaMemcpyDeviceToHost, ctx_->stream());
    cudaStreamSynchronize(ctx_->stream());
}

Status CudaModel::runPiece(DeviceStates& st, int64_t T, ScanForm form, bool allRows,
                           std::vector<std::vector<float>>* hidden) {
    const int B = st.batch;
    const int64_t rows = B * T, D = cfg_.dModel, F = cfg_.mlpHidden();
    const float eps = cfg_.normEps;
    const cudaStream_t s = ctx_->stream();
    int err = 0;
    mark(nullptr);
    embedding_forward(residual_, ids_, rows, embedding_.f32, D, s);
    mark("embedding");
    const float* pending = nullptr;
    // bf16 GEMMs (more rows than the decode GEMV takes): the norm writes the in_proj's bf16
    // input itself (LECTERN_PREFILL_BF16_NORM=0: the fp32 rows and the GEMM's conversion).
    static const bool bf16NormOff = [] {
        const char* e = std::getenv("LECTERN_PREFILL_BF16_NORM");
        return e && std::strcmp(e, "0") == 0;
    }();
    const bool tryBf16Norm = !bf16NormOff && gemm_.precision == Precision::Bf16 &&
                             rows > kGemvMaxRows && rows * D <= gemm_.bf16ScratchElems;
    for (int i = 0; i < cfg_.nLayer; ++i) {
        const DeviceLayer& L = layers_[size_t(i)];
        normedBf16_ = tryBf16Norm && L.inProj.bf16 &&
                      prefill_add_rmsnorm_bf16_forward(gemm_.bf16Scratch, residual_, pending,
                                                       L.norm, rows, D, eps, s);
        if (!normedBf16_) add_rmsnorm_forward(normed_, residual_, pending, L.norm, rows, D, eps, s);
        mark("add_rmsnorm");
        if (hidden && i > 0) copyHidden((*hidden)[size_t(i - 1)], T);
        mixer(L, st.layer[size_t(i)], st.angle[size_t(i)], B, T, form, err);
        // Where out_proj added into the residual itself there is no delta to add.
        const float* mixed = outProjAdded_ ? nullptr : delta_;
        if (F > 0) {
            add_rmsnorm_forward(normed_, residual_, mixed, L.norm2, rows, D, eps, s);
            if (int e = gated_mlp_forward(gemm_, delta_, normed_, L.fc1, L.fc2, mlp_, rows, s);
                e && !err)
                err = 1000 + e;
            mark("mlp (with its norm)");
        }
        pending = F > 0 ? delta_ : mixed;
    }
    add_rmsnorm_forward(normed_, residual_, pending, normF_, rows, D, eps, s);
    mark("add_rmsnorm");
    if (hidden) copyHidden((*hidden)[size_t(cfg_.nLayer - 1)], T);
    if (allRows) {
        if (int e = lm_head_forward(gemm_, logitsAll_.as<float>(), normed_, D, lmHead_, rows, s);
            e && !err)
            err = 1000 + e;
    }
    // The last token of each document: rows b·T + T − 1, a stride of T·D.
    if (int e = lm_head_forward(gemm_, logits_, normed_ + (T - 1) * D, T * D, lmHead_, B, s);
        e && !err)
        err = 1000 + e;
    mark("lm_head");
    if (err >= 1000)
        return Status::error("cuBLAS: a GEMM failed with status " + std::to_string(err - 1000));
    if (err) return cudaCheck(cudaError_t(err), "the scan kernel");
    return cudaCheck(cudaGetLastError(), "launching the forward kernels");
}

namespace {

Status checkIds(const int32_t* ids, int64_t n, int V) {
    for (int64_t i = 0; i < n; ++i)
        if (ids[i] < 0 || ids[i] >= V)
            return Status::error("token id " + std::to_string(ids[i]) + " at index " +
                                 std::to_string(i) + " is outside the vocabulary [0, " +
                                 std::to_string(V) + ")");
    return Status::ok();
}

}  // namespace

Status CudaModel::forward(DeviceStates& st, const int32_t* ids, int64_t T, ScanForm form,
                          float* lastLogits, float* allLogits,
                          std::vector<std::vector<float>>* hidden) {
    const int B = st.batch;
    const int64_t V = cfg_.vocabPadded();
    if (T <= 0 || B <= 0) return Status::ok();
    if (Status s = checkIds(ids, B * T, int(V)); !s) return s;
    const int64_t Tp = std::max<int64_t>(1, opt_.maxRows / B), first = std::min(Tp, T);
    if (Status s = ensureScratch(B * first, B); !s) return s;
    if (allLogits && logitsAll_.bytes() < size_t(B * first * V) * 4) {
        auto b = DeviceBuffer::alloc(size_t(B * first * V) * 4, "all-token logits");
        if (!b) return b.status();
        logitsAll_ = std::move(*b);
    }
    if (hidden && hidden->size() < size_t(cfg_.nLayer)) hidden->resize(size_t(cfg_.nLayer));
    const cudaStream_t s = ctx_->stream();
    std::vector<int32_t> piece;
    for (int64_t t0 = 0; t0 < T; t0 += Tp) {
        const int64_t n = std::min(Tp, T - t0);
        piece.resize(size_t(B * n));
        for (int b = 0; b < B; ++b)
            std::memcpy(&piece[size_t(b * n)], ids + b * T + t0, size_t(n) * 4);
        cudaMemcpyAsync(ids_, piece.data(), piece.size() * 4, cudaMemcpyHostToDevice, s);
        if (Status st2 = runPiece(st, n, form, allLogits != nullptr, hidden); !st2) return st2;
        for (int b = 0; allLogits && b < B; ++b)
            cudaMemcpyAsync(allLogits + (b * T + t0) * V, logitsAll_.as<float>() + b * n * V,
                            size_t(n * V) * 4, cudaMemcpyDeviceToHost, s);
        if (Status e = cudaCheck(cudaStreamSynchronize(s), "running a prefill piece"); !e) return e;
    }
    if (lastLogits)
        cudaMemcpyAsync(lastLogits, logits_, size_t(B * V) * 4, cudaMemcpyDeviceToHost, s);
    for (int64_t& p : st.position) p += T;
    return cudaCheck(cudaStreamSynchronize(s), "finishing the forward pass");
}

void CudaModel::forgetStates(const DeviceStates& st) {
    const void* buf = st.buf.as<void>();
    for (auto it = graphs_.begin(); it != graphs_.end();)
        it = it->first.second == buf ? graphs_.erase(it) : std::next(it);
}

Status CudaModel::decodeStep(DeviceStates& st, const int32_t* ids, float* logits) {
    const int B = st.batch;
    const int64_t V = cfg_.vocabPadded();
    if (Status s = checkIds(ids, B, int(V)); !s) return s;
    if (Status s = ensureScratch(B, B); !s) return s;
    if (pinnedBatch_ < B) {
        graphs_.clear();
        if (pinnedIds_) cudaFreeHost(pinnedIds_);
        if (pinnedLogits_) cudaFreeHost(pinnedLogits_);
        pinnedIds_ = nullptr;
        pinnedLogits_ = nullptr;
        pinnedBatch_ = 0;
        if (Status e = cudaCheck(cudaMallocHost(&pinnedIds_, size_t(B) * 4), "pinned ids"); !e)
            return e;
        if (Status e =
                cudaCheck(cudaMallocHost(&pinnedLogits_, size_t(B * V) * 4), "pinned logits");
            !e)
            return e;
        pinnedBatch_ = B;
    }
    const cudaStream_t s = ctx_->stream();
    // Without `logits` (a resident session samples on the device) the graph leaves the
    // logits there: a second graph, keyed by -B, without the [B, V] copy to the host.
    const auto key = std::make_pair(logits ? B : -B, static_cast<const void*>(st.buf.as<void>()));
    auto it = graphs_.find(key);
    if (it == graphs_.end()) {
        auto g = std::make_unique<Graph>();
        cudaGraph_t graph = nullptr;
        Status cs = cudaCheck(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal),
                              "starting graph capture");
        if (!cs) return cs;
        cudaMemcpyAsync(ids_, pinnedIds_, size_t(B) * 4, cudaMemcpyHostToDevice, s);
        capturing_ = true;
        // The fused path where it applies (cuda_decode.cpp), else the prefill's op sequence.
        Status rs = fusedDecodeApplies(B) ? runDecodeFused(st)
                                          : runPiece(st, 1, ScanForm::Recurrent, false, nullptr);
        capturing_ = false;
        if (logits)
            cudaMemcpyAsync(pinnedLogits_, logits_, size_t(B * V) * 4, cudaMemcpyDeviceToHost, s);
        cs = cudaCheck(cudaStreamEndCapture(s, &graph), "ending graph capture");
        if (!rs) return rs;
        if (!cs) return cs;
        cs = cudaCheck(cudaGraphInstantiate(&g->exec, graph, 0), "instantiating the decode graph");
        cudaGraphDestroy(graph);
        if (!cs) return cs;
        it = graphs_.emplace(key, std::move(g)).first;
    }
    std::memcpy(pinnedIds_, ids, size_t(B) * 4);
    if (Status e = cudaCheck(cudaGraphLaunch(it->second->exec, s), "launching the decode graph");
        !e)
        return e;
    if (Status e = cudaCheck(cudaStreamSynchronize(s), "running a decode step"); !e) return e;
    if (logits) std::memcpy(logits, pinnedLogits_, size_t(B * V) * 4);
    for (int64_t& p : st.position) p += 1;
    return Status::ok();
}

}  // namespace lectern::cuda
