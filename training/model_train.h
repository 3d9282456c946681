// The training forward (engine ops, plus the saves the backward needs, in named
// Activations structs) and the whole-model backward, for one sequence starting from a
// fresh document state. Batches are sums over rows (loss_and_grads).
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"
#include "model/weights.h"

namespace lectern::train {

// Tokens per recomputation chunk of the scan's backward: the forward keeps one state per
// chunk, the backward recomputes a chunk's states (memory ~ (T/C + C)·H·P·N floats a layer
// instead of T·H·P·N; C near √T is the minimum, 64 suits 1k–16k tokens).
inline constexpr int64_t kScanRecomputeChunk = 64;

struct MixerActivations {
    std::vector<float> proj;           // [T, dInProj] in_proj output
    std::vector<float> q, k;           // [T, R, H, N] after norm, bias AND rotation
    std::vector<float> dt, adt, trap;  // [T, H]
    std::vector<float> dtheta;         // [T, H, A]
    std::vector<float> hs;             // [ceil(T/C), H, P, N] the state entering each chunk
                                       // of C = kScanRecomputeChunk tokens (recomputation)
    std::vector<float> y;              // [T, R, H, P] scan output
    std::vector<float> gated;          // [T, d_inner] out_proj input
};

struct LayerActivations {
    std::vector<float> resid, normed;  // [T, D] the norm's input (after the add), output
    MixerActivations mixer;
    std::vector<float> resid2, normed2;  // [T, D] the MLP's norm (MLP only)
};

struct Activations {
    std::vector<LayerActivations> layers;
    std::vector<float> residF, normedF;  // [T, D]
    std::vector<float> logits;           // [T, V_pad]
};

// save false: a forward only (evaluation), through the engine's chunked scan; hs is not
// filled, so no backward may follow.
void mixer_train_forward(const model::ModelConfig& cfg, const model::LayerWeights& L,
                         const float* normed, int64_t T, MixerActivations& a, float* out,
                         bool save = true);
// dnormed [T, D] += ; gradients of the layer's mixer parameters in G (+=).
void mixer_backward(const model::ModelConfig& cfg, const model::LayerWeights& L,
                    const MixerActivations& a, const float* normed, int64_t T, const float* dout,
                    float* dnormed, model::LayerWeights& G);

// save false: a forward only (as mixer_train_forward's); dt and adt are filled either way.
void train_forward(const model::ModelConfig& cfg, const model::ModelWeights& w, const int32_t* ids,
                   int64_t T, Activations& a, bool save = true);
// From dlogits [T, V_pad] to every parameter gradient in `grads` (+=; tied models put the
// LM head's share into grads.embedding).
void train_backward(const model::ModelConfig& cfg, const model::ModelWeights& w, const int32_t* ids,
                    int64_t T, const Activations& a, const float* dlogits,
                    model::ModelWeights& grads);

// B rows of L tokens ([B, L] row-major), each an independent document. Returns the SUM of
// the B·(L−1) per-position losses; if grads is non-null, adds gradScale × the gradient of
// that sum (gradScale = 1/(B·(L−1)) gives the golden mean loss's gradient). Without grads
// it is a forward only (no saves). `ws`, if given, is reused between calls (its buffers keep
// their size, so a training loop allocates once). rowWeights [B, L] (optional; nullptr: all
// 1): each position's gradient is scaled by its weight too (cross_entropy_forward_backward);
// the returned sum stays unweighted.
double loss_and_grads(const model::ModelConfig& cfg, const model::ModelWeights& w,
                      const int32_t* ids, int64_t B, int64_t L, model::ModelWeights* grads,
                      double gradScale, Activations* ws = nullptr,
                      const float* rowWeights = nullptr);

}  // namespace lectern::train
