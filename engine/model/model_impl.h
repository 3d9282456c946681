// The engine's internal model: configuration, weights and the forward pass over a piece
// of tokens (engine/model/forward.cpp), shared by every Session of a Model.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "lectern/engine.h"
#include "model/config.h"
#include "model/weights.h"

namespace lectern::cuda {
class GpuRunner;       // engine/cuda/gpu_runner.h (issue 4)
struct ResidentState;  // a session's state on the GPU (gpu_runner.h)
}  // namespace lectern::cuda

namespace lectern::detail {

// Buffers reused between calls so that decode allocates nothing after its first token.
struct SessionScratch {
    std::vector<float> residual, normed, delta, proj, q, k, dt, adt, trap, dtheta, y, gated, mlp,
        logits;
    // issue 4: on the GPU the session's state and last logits stay on the device between
    // calls. Which copies hold the newest values: the device copy (if deviceValid), else
    // the host's; the host's state and logits each also when their flag says so. The host
    // position is always current.
    std::shared_ptr<cuda::ResidentState> device;
    bool deviceValid = false, hostStateValid = true, hostLogitsValid = true;
};

struct ModelImpl {
    model::ModelConfig cfg;
    model::ModelWeights w;
    ModelInfo info;
    uint64_t identity = 0;  // Model::identityHash (engine/model/model_identity.cpp)

    StateShape stateShape() const;
    // One piece of T tokens through every layer, continuing `state`. Writes the logits of
    // all T tokens into allLogits ([T, V_pad]) if non-null, else those of the last token
    // into lastLogits ([V_pad]). hidden, if non-null, receives [T, D] per block.
    void forward(DocumentState& state, const int32_t* ids, int64_t T, ScanForm form,
                 SessionScratch& s, float* allLogits, float* lastLogits,
                 std::vector<std::vector<float>>* hidden) const;

    // The CPU forward's working memory for pieces of T tokens (bytes), and growing `s` to
    // it. Session::prefill reserves before a piece touches the state, so a failed
    // allocation (std::bad_alloc) leaves the state as it was (RELIABILITY MEM-1).
    int64_t scratchBytes(int64_t T) const;
    void reserveScratch(SessionScratch& s, int64_t T) const;

    // issue 4, run-time device selection (engine/model/device_select.cpp): the GPU that
    // runs this model, or null for the CPU; run() is forward() on it, errors as values.
    std::shared_ptr<cuda::GpuRunner> gpu;
    // A GPU is attached and has not faulted. After a kernel fault (RELIABILITY GPU-3) the
    // CUDA backend is disabled for the process and the model runs on the CPU: the call
    // that met the fault returns its error, sessions whose newest state was on the GPU
    // are reset with a message, and later calls are answered by the CPU.
    bool onGpu() const;
    Status run(DocumentState& state, const int32_t* ids, int64_t T, ScanForm form,
               SessionScratch& s, float* allLogits, float* lastLogits,
               std::vector<std::vector<float>>* hidden) const;
    // As run(), for a Session: on the GPU the state stays resident in s.device (uploaded
    // first if the host copy is newer) and the host copies are marked stale; lastLogits
    // ([V_pad], host) is written only on the CPU or when allLogits is given.
    Status runSession(DocumentState& state, std::vector<float>& lastLogits, const int32_t* ids,
                      int64_t T, ScanForm form, SessionScratch& s, float* allLogits,
                      std::vector<std::vector<float>>* hidden) const;
    // Makes the host copies current (state, and logits if `logits`); a no-op on the CPU.
    Status syncHost(SessionScratch& s, DocumentState& state, std::vector<float>& lastLogits,
                    bool logits) const;
    // Copies `from`'s device state into `to` (fork, device to device) when `from` holds
    // the newest copy on the GPU; false if it does not (or the copy failed: then `to` must
    // take the host copies after syncHost).
    bool copyDevice(const SessionScratch& from, SessionScratch& to) const;
    // Greedy decoding where the newest logits are on the GPU: the first largest of
    // logits[0, n) computed there (only the id is copied back); false where they are not
    // (or the kernel failed), leaving `id` alone.
    bool deviceArgmax(const SessionScratch& s, int n, int32_t& id) const;
    // Sampling there likewise (Session::sampleOnDevice); false where the logits are not on
    // the GPU or the kernel failed, leaving `id` alone.
    bool deviceSample(const SessionScratch& s, int n, float temperature, int topK, float topP,
                      float minP, double u, int32_t& id) const;
};

// The hash of the configuration and weights behind Model::identityHash.
uint64_t modelIdentity(const model::ModelConfig& cfg, const model::ModelWeights& w);

// Attaches the device `kind` asks for (Auto: the GPU if usable, else the CPU with a note).
// precision: how the GPU multiplies (lectern/engine.h GpuPrecision).
Status attachDevice(ModelImpl& m, DeviceKind kind, GpuPrecision precision = GpuPrecision::Bf16);

// The mixer's share of SessionScratch for T tokens: its size in floats, and growing s to it.
int64_t mamba3_mixer_scratch_floats(const model::ModelConfig& cfg, int64_t T);
void mamba3_mixer_reserve(const model::ModelConfig& cfg, SessionScratch& s, int64_t T);

// One Mamba-3 mixer over T tokens (normed [T, D] -> out [T, D]), continuing `state`.
void mamba3_mixer_forward(const model::ModelConfig& cfg, const model::LayerWeights& L,
                          ScanForm form, const float* normed, int64_t T, LayerState& state,
                          SessionScratch& s, float* out);

}  // namespace lectern::detail
