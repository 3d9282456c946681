// The Mamba-3 mixer described once, as a sequence of named ops (engine/ops). It never
// branches on the device; the only choice is the scan form (chunked or step).
#include "model/model_impl.h"
#include "ops/linear.h"
#include "ops/mamba3_gate.h"
#include "ops/mamba3_preprocess.h"
#include "ops/rotary_angles.h"
#include "ops/ssm_chunk_scan.h"
#include "ops/ssm_step.h"

namespace lectern::detail {
namespace {

const float* orNull(const std::vector<float>& v) {
    return v.empty() ? nullptr : v.data();
}

void grow(std::vector<float>& v, int64_t n) {
    if (int64_t(v.size()) < n) v.resize(size_t(n));
}

}  // namespace

int64_t mamba3_mixer_scratch_floats(const model::ModelConfig& cfg, int64_t T) {
    const ops::Mamba3Dims d = cfg.dims();
    return T *
           (d.dInProj() + 2 * d.R * d.H * d.N + 3 * d.H + d.H * d.A + d.R * d.H * d.P + d.dInner());
}

void mamba3_mixer_reserve(const model::ModelConfig& cfg, SessionScratch& s, int64_t T) {
    const ops::Mamba3Dims d = cfg.dims();
    const int64_t qkN = T * d.R * d.H * d.N;
    grow(s.proj, T * d.dInProj());
    grow(s.q, qkN);
    grow(s.k, qkN);
    grow(s.dt, T * d.H);
    grow(s.adt, T * d.H);
    grow(s.trap, T * d.H);
    grow(s.dtheta, T * d.H * d.A);
    grow(s.y, T * d.R * d.H * d.P);
    grow(s.gated, T * d.dInner());
}

void mamba3_mixer_forward(const model::ModelConfig& cfg, const model::LayerWeights& L,
                          ScanForm form, const float* normed, int64_t T, LayerState& state,
                          SessionScratch& s, float* out) {
    const ops::Mamba3Dims d = cfg.dims();
    const int64_t D = cfg.dModel;
    mamba3_mixer_reserve(cfg, s, T);  // before the state changes (see reserveScratch)

    cpu::linear_forward(s.proj.data(), normed, L.inProj.data(), T, D, d.dInProj());
    const ops::Mamba3PreprocessParams pre{L.dtBias.data(), L.bNorm.data(), L.cNorm.data(),
                                          L.bBias.data(), L.cBias.data()};
    cpu::mamba3_preprocess_forward(d, pre, s.proj.data(), T, s.q.data(), s.k.data(), s.dt.data(),
                                   s.adt.data(), s.trap.data(), s.dtheta.data());
    cpu::rotary_angles_forward(d, s.q.data(), s.k.data(), state.angle.data(), s.dtheta.data(), T);

    const ops::SsmScanInputs in{s.q.data(),    s.k.data(),   s.proj.data() + d.offX(),
                                d.dInProj(),   s.adt.data(), s.dt.data(),
                                s.trap.data(), L.D.data(),   orNull(L.mimoX)};
    const ops::SsmStateRef st{state.ssm.data(), state.k.data(), state.v.data()};
    if (form == ScanForm::Chunked) {
        cpu::ssm_chunk_scan_forward(d, cfg.ssm.chunkSize, in, T, s.y.data(), st);
    } else {
        cpu::ssm_step_forward(d, in, T, s.y.data(), st);
    }

    const ops::Mamba3GateParams gate{orNull(L.mimoZ), orNull(L.mimoO), orNull(L.outNorm)};
    cpu::mamba3_gate_forward(d, gate, s.y.data(), s.proj.data() + d.offZ(), d.dInProj(), T,
                             s.gated.data());
    cpu::linear_forward(out, s.gated.data(), L.outProj.data(), T, d.dInner(), D);
}

}  // namespace lectern::detail
