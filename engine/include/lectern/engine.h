// The engine's public API, narrow in the llama.h manner: load a model, read tokens into a
// document state (prefill, continuing whatever the state already holds), decode one
// token at a time, fork a state. Everything fallible returns Status / Expected.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lectern/document_state.h"
#include "lectern/status.h"

namespace lectern {

enum class DeviceKind { Cpu, Cuda, Auto };

// How a model loaded onto the GPU multiplies its projections (issue 4): Bf16, the default,
// with bf16 copies of the weight matrices and fp32 accumulation (logits within ~1e-2
// relative of the CPU's; the decode step streams half the bytes); Fp32 exactly as the CPU
// (within 1e-4: the golden and correctness tests ask for it). The CPU ignores it.
enum class GpuPrecision { Bf16, Fp32 };

struct LoadOptions {
    DeviceKind device = DeviceKind::Cpu;
    GpuPrecision gpuPrecision = GpuPrecision::Bf16;
};

// Chunked: the chunk-parallel scan (prefill form). Recurrent: the step, token by token
// (decode form). Both give the same results within fp32 rounding.
enum class ScanForm { Chunked, Recurrent };

struct ModelInfo {
    std::string architecture;  // "Mamba-3 SISO" / "Mamba-3 MIMO (rank 4)"
    int dModel = 0, nLayer = 0, vocabSize = 0, vocabPadded = 0, dIntermediate = 0;
    int dState = 0, headdim = 0, nHeads = 0, ngroups = 0, mimoRank = 1, ropeAngles = 0;
    int chunkSize = 0;
    bool outprojNorm = false, tiedEmbeddings = false;
    int64_t parameterCount = 0;
    int64_t stateBytes = 0;  // one document's state (fp32)
};

class Model;
namespace detail {
struct ModelImpl;
struct SessionScratch;
}  // namespace detail

struct PrefillOptions {
    ScanForm form = ScanForm::Chunked;
    std::vector<float>* allLogits = nullptr;  // if set: [tokens, vocabPadded] appended
    // Test hook: if set, receives per block i the residual stream after the block, [T, D].
    std::vector<std::vector<float>>* hiddenStates = nullptr;
    // If set: one value appended per token read, -log2 p(token | every token before it)
    // under a softmax over the real vocabulary; NaN for a state's very first token, which
    // nothing predicts. Reduced piece by piece, so memory stays O(T) on every backend.
    std::vector<float>* surprisalBits = nullptr;
    const std::atomic<bool>* cancel = nullptr;  // checked between pieces
    std::function<void(int64_t done, int64_t total)> progress;
};

// A document being read: the model, its state, and the last token's logits.
class Session {
public:
    explicit Session(const Model& model);
    Session(const Session& other);
    Session& operator=(const Session& other);
    Session(Session&&) noexcept;
    Session& operator=(Session&&) noexcept;
    ~Session();

    // Reads `tokens` after whatever the state holds. On cancel returns an error; the state
    // then holds every token up to position().
    Status prefill(std::span<const int32_t> tokens, const PrefillOptions& options = {});
    // Reads one token (the recurrent form); lastLogits() then predicts the next one.
    Status step(int32_t token);
    Session fork() const { return *this; }
    // Replaces state and last logits (a state loaded from a file, engine/io/state_file.h);
    // errors if the shape or logits size is not this model's. Defined in state_file.cpp.
    Status restore(DocumentState state, std::vector<float> lastLogits);

    std::span<const float> lastLogits() const;  // [vocabPadded]; empty before any token
    // Greedy decoding: the first largest of lastLogits()[0, n) (n clamped to their size), -1
    // before any token. On the GPU it is found there and only the id is copied back.
    int32_t argmaxLogits(int n) const;
    // Sampling where the logits are, for a uniform draw u in [0, 1) the caller made: on the
    // GPU the sampler (temperature > 0, top-k 0 = off, top-p 1 = off, min-p 0 = off; no
    // repetition penalty) runs there and only the id comes back: the id generate::drawToken
    // picks from the same distribution for that u. -1 where the newest logits are not on the
    // device (the caller then samples lastLogits() on the CPU with the same u).
    int32_t sampleOnDevice(int n, float temperature, int topK, float topP, float minP,
                           double u) const;
    // On the GPU the state stays on the device between calls; reading it here copies it to
    // the host first (once, until the next call), and the non-const form also makes the
    // next call upload the host copy (which the caller may change).
    const DocumentState& state() const;
    DocumentState& state();
    int64_t position() const { return state_.position(); }

private:
    void syncHost(bool logits) const;  // the host copies current (GPU sessions)
    void copyFrom(const Session& other);

    std::shared_ptr<const detail::ModelImpl> model_;
    mutable DocumentState state_;  // mutable: synced from the GPU on reads
    mutable std::vector<float> lastLogits_;
    std::unique_ptr<detail::SessionScratch> scratch_;
};

class Model {
public:
    // Loads a folder holding config.json and model.safetensors (or a sharded set, or the
    // official pytorch_model.bin), or a weights file named directly with config.json beside
    // it. fp32, bf16 and fp16 weights; compute is fp32 on the CPU, on the GPU as
    // LoadOptions::gpuPrecision (bf16 projections unless Fp32 is asked for). DeviceKind::Cuda
    // runs on GPU 0 (an error if none is usable); Auto uses it if it can, else the CPU,
    // saying why on stderr.
    static Expected<Model> load(const std::string& path, DeviceKind device = DeviceKind::Cpu);
    static Expected<Model> load(const std::string& path, const LoadOptions& options);

    const ModelInfo& info() const;
    DocumentState newState() const;
    Session newSession() const { return Session(*this); }
    // A 64-bit hash of the configuration and every weight (fp32 after loading), computed once
    // at load; state files carry it so a state is never read into another model.
    uint64_t identityHash() const;

private:
    friend class Session;
    std::shared_ptr<const detail::ModelImpl> impl_;
};

}  // namespace lectern
