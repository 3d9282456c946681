// The Mamba-3 mixer for training: the engine's forward ops in the order of
// engine/model/mamba3_block.cpp, with the scan replaced by its state-saving form, and the
// backward in the reverse order (training/backward).
#include <algorithm>

#include "ops/linear.h"
#include "ops/mamba3_gate.h"
#include "ops/mamba3_preprocess.h"
#include "ops/rotary_angles.h"
#include "ops/ssm_chunk_scan.h"
#include "training/backward/backward_ops.h"
#include "training/model_train.h"

namespace lectern::train {
namespace {

const float* orNull(const std::vector<float>& v) {
    return v.empty() ? nullptr : v.data();
}
float* orNull(std::vector<float>& v) {
    return v.empty() ? nullptr : v.data();
}

ops::SsmScanInputs scanInputs(const ops::Mamba3Dims& d, const model::LayerWeights& L,
                              const MixerActivations& a) {
    return ops::SsmScanInputs{a.q.data(),    a.k.data(),   a.proj.data() + d.offX(),
                              d.dInProj(),   a.adt.data(), a.dt.data(),
                              a.trap.data(), L.D.data(),   orNull(L.mimoX)};
}

}  // namespace

void mixer_train_forward(const model::ModelConfig& cfg, const model::LayerWeights& L,
                         const float* normed, int64_t T, MixerActivations& a, float* out,
                         bool save) {
    const ops::Mamba3Dims d = cfg.dims();
    const int64_t D = cfg.dModel, qkN = T * d.R * d.H * d.N;
    a.proj.resize(size_t(T * d.dInProj()));
    a.q.resize(size_t(qkN));
    a.k.resize(size_t(qkN));
    a.dt.resize(size_t(T * d.H));
    a.adt.resize(size_t(T * d.H));
    a.trap.resize(size_t(T * d.H));
    a.dtheta.resize(size_t(T * d.H * d.A));
    if (save) a.hs.resize(size_t(ssm_scan_checkpoints(T, kScanRecomputeChunk) * d.H * d.P * d.N));
    a.y.resize(size_t(T * d.R * d.H * d.P));
    a.gated.resize(size_t(T * d.dInner()));

    cpu::linear_forward(a.proj.data(), normed, L.inProj.data(), T, D, d.dInProj());
    const ops::Mamba3PreprocessParams pre{L.dtBias.data(), L.bNorm.data(), L.cNorm.data(),
                                          L.bBias.data(), L.cBias.data()};
    cpu::mamba3_preprocess_forward(d, pre, a.proj.data(), T, a.q.data(), a.k.data(), a.dt.data(),
                                   a.adt.data(), a.trap.data(), a.dtheta.data());
    std::vector<float> angle(size_t(d.H * d.A), 0.0f);
    cpu::rotary_angles_forward(d, a.q.data(), a.k.data(), angle.data(), a.dtheta.data(), T);
    if (save) {
        ssm_scan_forward_checkpoint(d, scanInputs(d, L, a), T, kScanRecomputeChunk, a.y.data(),
                                    a.hs.data());
    } else {
        std::vector<float> ssm(size_t(d.H * d.P * d.N), 0.0f), kst(size_t(d.R * d.H * d.N), 0.0f),
            vst(size_t(d.dInner()), 0.0f);
        cpu::ssm_chunk_scan_forward(d, cfg.ssm.chunkSize, scanInputs(d, L, a), T, a.y.data(),
                                    ops::SsmStateRef{ssm.data(), kst.data(), vst.data()});
    }
    const ops::Mamba3GateParams gate{orNull(L.mimoZ), orNull(L.mimoO), orNull(L.outNorm)};
    cpu::mamba3_gate_forward(d, gate, a.y.data(), a.proj.data() + d.offZ(), d.dInProj(), T,
                             a.gated.data());
    cpu::linear_forward(out, a.gated.data(), L.outProj.data(), T, d.dInner(), D);
}

void mixer_backward(const model::ModelConfig& cfg, const model::LayerWeights& L,
                    const MixerActivations& a, const float* normed, int64_t T, const float* dout,
                    float* dnormed, model::LayerWeights& G) {
    const ops::Mamba3Dims d = cfg.dims();
    const int64_t D = cfg.dModel, qkN = T * d.R * d.H * d.N;
    // Gradient scratch kept between calls (assign re-zeroes without new pages).
    thread_local std::vector<float> dgated, dy, dproj, dq, dk, ddt, dadt, dtrap, ddtheta;
    dgated.assign(size_t(T * d.dInner()), 0.0f);
    linear_backward(dgated.data(), G.outProj.data(), dout, a.gated.data(), L.outProj.data(), T,
                    d.dInner(), D);

    dy.assign(a.y.size(), 0.0f), dproj.assign(a.proj.size(), 0.0f);
    const ops::Mamba3GateParams gate{orNull(L.mimoZ), orNull(L.mimoO), orNull(L.outNorm)};
    const Mamba3GateGrads gg{orNull(G.mimoZ), orNull(G.mimoO), orNull(G.outNorm)};
    mamba3_gate_backward(d, gate, gg, a.y.data(), a.proj.data() + d.offZ(), d.dInProj(), T,
                         dgated.data(), dy.data(), dproj.data() + d.offZ());

    dq.assign(size_t(qkN), 0.0f), dk.assign(size_t(qkN), 0.0f);
    ddt.assign(size_t(T * d.H), 0.0f), dadt.assign(ddt.size(), 0.0f),
        dtrap.assign(ddt.size(), 0.0f);
    const SsmScanGrads sg{dq.data(),   dk.data(),      dproj.data() + d.offX(),
                          dadt.data(), ddt.data(),     dtrap.data(),
                          G.D.data(),  orNull(G.mimoX)};
    ssm_scan_backward_recompute(d, scanInputs(d, L, a), a.hs.data(), T, kScanRecomputeChunk,
                                dy.data(), sg);

    ddtheta.assign(size_t(T * d.H * d.A), 0.0f);
    rotary_angles_backward(d, a.q.data(), a.k.data(), nullptr, a.dtheta.data(), T, dq.data(),
                           dk.data(), ddtheta.data());
    const ops::Mamba3PreprocessParams pre{L.dtBias.data(), L.bNorm.data(), L.cNorm.data(),
                                          L.bBias.data(), L.cBias.data()};
    const Mamba3PreprocessGrads pg{G.dtBias.data(), G.bNorm.data(), G.cNorm.data(), G.bBias.data(),
                                   G.cBias.data()};
    mamba3_preprocess_backward(d, pre, pg, a.proj.data(), T, dq.data(), dk.data(), ddt.data(),
                               dadt.data(), dtrap.data(), ddtheta.data(), dproj.data());
    linear_backward(dnormed, G.inProj.data(), dproj.data(), normed, L.inProj.data(), T, D,
                    d.dInProj());
}

}  // namespace lectern::train
