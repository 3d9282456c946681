// CudaModel's fused decode step (issue 4): one token per document in 3 launches a layer
// instead of ~12. At batch 1 the step reads ~2.7 GB of bf16 weights (0.97 ms at the copy
// rate) but spent most of its 2.8 ms in ~580 launches of small latency-bound kernels
// (NOTES-gpu.md). Per layer now:
//   in_proj with the RMSNorm of the residual as its prologue   (decode_norm_gemv_forward)
//   the whole mixer: scalars, angles, q/k, state step, gate     (decode_mixer_forward)
//   out_proj adding into the residual                           (decode_gemv_add_forward)
// and the final norm is the LM head's prologue. With more than kGemvMaxRows documents, or
// without bf16 weights, the projections go through cuBLAS with the separate add+RMSNorm
// (as runPiece) and only the mixer is fused. MIMO and MLP models take runPiece.
#include "cuda/cuda_model.h"

namespace lectern::cuda {

bool CudaModel::fusedDecodeApplies(int batch) const {
    if (!opt_.fusedDecode || cfg_.mlpHidden() > 0 || !decode_mixer_fits(d_) || batch < 1)
        return false;
    for (const DeviceLayer& L : layers_)
        if (L.mimoX || L.mimoZ || L.mimoO) return false;
    return true;
}

Status CudaModel::runDecodeFused(DeviceStates& st) {
    const int B = st.batch;
    const int64_t D = cfg_.dModel, dI = d_.dInner();
    const float eps = cfg_.normEps;
    const cudaStream_t s = ctx_->stream();
    // The weight-streaming GEMVs need bf16 copies and few rows; checked per call (each
    // returns false, launching nothing, where it does not apply), so one decision here.
    const bool bf = gemm_.precision == Precision::Bf16 && B <= kGemvMaxRows &&
                    size_t(B) * size_t(D) * sizeof(float) <= 48 * 1024 && D % 8 == 0 &&
                    dI % 8 == 0 && lmHead_.bf16 != nullptr;
    // Programmatic dependent launch between the fused kernels (kernels/decode_pdl.cuh): each
    // one's weight (or state) loads overlap the previous one's tail.
    // Only with the weight-streaming GEMVs: with cuBLAS projections (batch > 4) a mixer
    // launched early would hold multiprocessors the GEMM needs.
    const DecodeLaunch how = decode_launch_options(B, bf);
    int err = 0;
    mark(nullptr);
    embedding_forward(residual_, ids_, B, embedding_.f32, D, s);
    mark("embedding");
    const float* pending = nullptr;
    for (int i = 0; i < cfg_.nLayer; ++i) {
        const DeviceLayer& L = layers_[size_t(i)];
        const bool gemv = bf && L.inProj.bf16 && L.outProj.bf16;
        if (!gemv || pending ||
            !decode_norm_gemv_forward(proj_, residual_, D, L.norm, eps, L.inProj, B, how, s)) {
            add_rmsnorm_forward(normed_, residual_, pending, L.norm, B, D, eps, s);
            if (int e = linear_forward(gemm_, proj_, normed_, D, L.inProj, B, s); e && !err)
                err = 1000 + e;
        }
        pending = nullptr;
        mark("in_proj (+ norm)");
        DecodeMixerParams mp;
        mp.proj = proj_;
        mp.pre = {L.dtBias, L.bNorm, L.cNorm, L.bBias, L.cBias};
        mp.D = L.D;
        mp.outNorm = L.outNorm;
        mp.angle = st.angle[size_t(i)];
        mp.st = st.layer[size_t(i)];
        mp.gated = gated_;
        mp.pdl = how.pdl;
        mp.compact = how.compactMixer;
        if (cudaError_t e = decode_mixer_forward(d_, mp, B, s); e != cudaSuccess && !err)
            err = int(e);
        mark("mixer (fused)");
        if (!gemv || !decode_gemv_add_forward(residual_, gated_, dI, L.outProj, B, how, s)) {
            if (int e = linear_forward(gemm_, delta_, gated_, dI, L.outProj, B, s); e && !err)
                err = 1000 + e;
            pending = delta_;
        }
        mark("out_proj (+ add)");
    }
    if (!bf || pending ||
        !decode_norm_gemv_forward(logits_, residual_, D, normF_, eps, lmHead_, B, how, s)) {
        add_rmsnorm_forward(normed_, residual_, pending, normF_, B, D, eps, s);
        if (int e = lm_head_forward(gemm_, logits_, normed_, D, lmHead_, B, s); e && !err)
            err = 1000 + e;
    }
    mark("lm_head (+ norm)");
    if (err >= 1000)
        return Status::error("cuBLAS: a GEMM failed with status " + std::to_string(err - 1000));
    if (err) return cudaCheck(cudaError_t(err), "the fused decode mixer");
    return cudaCheck(cudaGetLastError(), "launching the fused decode kernels");
}

}  // namespace lectern::cuda
