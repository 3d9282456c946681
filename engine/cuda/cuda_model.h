// The model on one GPU: weights on the device (fp32, plus bf16 copies of the large
// matrices in Bf16 mode), document states on the device for a batch of documents, and a
// forward pass that mirrors engine/model op by op (embedding, add+RMSNorm, in_proj,
// preprocess, rotary, chunked scan or step, gate, out_proj, MLP, final norm, LM head).
// Prefill runs in pieces of at most maxRows token rows carrying the state, so peak memory
// does not grow with document length. Decode steps replay a captured CUDA graph.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cuda/cuda_context.h"
#include "lectern/document_state.h"
#include "lectern/engine.h"
#include "model/config.h"
#include "model/weights.h"

namespace lectern::cuda {

struct CudaOptions {
    int device = 0;
    Precision precision = Precision::Fp32;
    int64_t maxRows = 4096;  // token rows (batch × piece length) per forward piece
    // Decode steps through the fused path (engine/cuda/cuda_decode.cpp) where it applies;
    // false: the op-by-op path (the tests compare the two).
    bool fusedDecode = true;
};

// The states of `batch` documents, one device allocation; per layer angle [B,H,A],
// ssm [B,H,P,N], k [B,R,H,N], v [B,H,P] (DocumentState's layout with a batch dimension).
struct DeviceStates {
    int batch = 0;
    std::vector<int64_t> position;  // per document
    DeviceBuffer buf;
    std::vector<ops::SsmStateRef> layer;  // per layer, batch-strided
    std::vector<float*> angle;
};

struct DeviceLayer {
    DeviceMatrix inProj, outProj, fc1, fc2;
    const float *norm = nullptr, *dtBias = nullptr, *bBias = nullptr, *cBias = nullptr;
    const float *bNorm = nullptr, *cNorm = nullptr, *D = nullptr, *mimoX = nullptr;
    const float *mimoZ = nullptr, *mimoO = nullptr, *outNorm = nullptr, *norm2 = nullptr;
};

class CudaModel {
public:
    static Expected<std::unique_ptr<CudaModel>> create(const model::ModelConfig& cfg,
                                                       const model::ModelWeights& w,
                                                       const CudaOptions& opt);
    // Random weights made on the device (benchmarks: no host copy of a multi-GB model).
    static Expected<std::unique_ptr<CudaModel>> createRandom(const model::ModelConfig& cfg,
                                                             uint64_t seed, const CudaOptions& opt);
    ~CudaModel();

    Expected<DeviceStates> newStates(int batch) const;  // zeros, positions 0
    Status upload(const DocumentState& from, DeviceStates& to, int slot) const;
    Status download(const DeviceStates& from, int slot, DocumentState& to) const;

    // Reads ids [batch, T] (host) into the states. Optional host outputs: lastLogits
    // [batch, V_pad]; allLogits [batch, T, V_pad]; hidden: per block the residual of
    // document 0, [T, D] appended (as PrefillOptions::hiddenStates).
    Status forward(DeviceStates& st, const int32_t* ids, int64_t T, ScanForm form,
                   float* lastLogits, float* allLogits,
                   std::vector<std::vector<float>>* hidden = nullptr);
    // One token per document through a captured graph; logits [batch, V_pad] (host), or
    // none if null.
    Status decodeStep(DeviceStates& st, const int32_t* ids, float* logits);
    // The device logits [batch, V_pad] of the last forward() or decodeStep(); scratch,
    // overwritten by the next call.
    const float* lastLogitsDevice() const { return logits_; }
    // Drops the decode graph captured for `st` (call before freeing st: a graph is keyed by
    // the states' address, which a later allocation may reuse).
    void forgetStates(const DeviceStates& st);

    // Profiling (benchmarks only): while set, each op is followed by a stream
    // synchronisation and its wall time is added under its name (never inside a graph).
    void setProfile(std::map<std::string, double>* p) { prof_ = p; }

    const model::ModelConfig& config() const { return cfg_; }
    Context& context() { return *ctx_; }
    size_t weightBytes() const { return weights_.bytes(); }

private:
    CudaModel() = default;
    // Every weight tensor as a slot: where its device pointers go, its size, its host
    // source (null: random in [lo, hi]).
    struct WeightSlot;
    std::vector<WeightSlot> weightSlots(const model::ModelWeights* w);
    Status loadWeights(const model::ModelWeights* w, uint64_t seed);
    Status checkDims() const;
    Status ensureScratch(int64_t rows, int batch);  // grows the scratch if needed
    Status runPiece(DeviceStates& st, int64_t T, ScanForm form, bool allRows,
                    std::vector<std::vector<float>>* hidden);
    void copyHidden(std::vector<float>& to, int64_t T);
    void mark(const char* op);  // profiling: op == nullptr starts the clock
    // One decode token per document, fused (cuda_decode.cpp); false if it does not apply
    // (then nothing was launched).
    bool fusedDecodeApplies(int batch) const;
    Status runDecodeFused(DeviceStates& st);
    void mixer(const DeviceLayer& L, const ops::SsmStateRef& s, float* angle, int batch, int64_t T,
               ScanForm form, int& err);
    struct Graph {  // one captured decode step; destroyed in cuda_forward.cpp
        cudaGraphExec_t exec = nullptr;
        ~Graph();
    };

    model::ModelConfig cfg_;
    ops::Mamba3Dims d_;
    CudaOptions opt_;
    std::unique_ptr<Context> ctx_;
    Arena weights_;
    DeviceMatrix embedding_, lmHead_;
    const float* normF_ = nullptr;
    std::vector<DeviceLayer> layers_;
    // Scratch (one arena, regrown on demand; never inside graph capture).
    Arena scratch_;
    int64_t scratchRows_ = 0;
    int scratchBatch_ = 0;
    int32_t* ids_ = nullptr;
    float *residual_ = nullptr, *normed_ = nullptr, *delta_ = nullptr, *proj_ = nullptr;
    float *q_ = nullptr, *k_ = nullptr, *dt_ = nullptr, *adt_ = nullptr, *trap_ = nullptr;
    float *dtheta_ = nullptr, *theta_ = nullptr, *y_ = nullptr, *gated_ = nullptr, *mlp_ = nullptr;
    float* logits_ = nullptr;  // [max(rows, batch), V] when all rows asked, else [batch, V]
    // Prefill: this layer's normed rows are in bf16 in gemm_.bf16Scratch (not normed_), the
    // in_proj's input (prefill_add_rmsnorm_bf16_forward); set per layer by runPiece.
    bool normedBf16_ = false;
    bool outProjAdded_ = false;  // mixer: out_proj added into residual_ (no delta_)
    int64_t logitsRows_ = 0;
    DeviceBuffer logitsAll_;
    ScanWorkspace scan_;
    GemmContext gemm_;
    std::map<std::pair<int, const void*>, std::unique_ptr<Graph>> graphs_;
    int32_t* pinnedIds_ = nullptr;
    float* pinnedLogits_ = nullptr;
    int pinnedBatch_ = 0;
    std::map<std::string, double>* prof_ = nullptr;
    bool capturing_ = false;
    double markT_ = 0;
};

}  // namespace lectern::cuda
