// Run-time device selection (issue 4): --device cpu|cuda|auto. Cuda runs the model on
// GPU 0 and fails with a clear message where there is none; Auto does the same but falls
// back to the CPU, saying why on stderr. ModelImpl::run is the Status-returning forward
// that Session calls: the GPU when one is attached, else the CPU reference.
#include <algorithm>
#include <cstdio>
#include <string>

#include "model/model_impl.h"
#ifdef LECTERN_HAVE_CUDA
#include "cuda/gpu_runner.h"
#endif

namespace lectern::detail {

Status attachDevice(ModelImpl& m, DeviceKind kind, GpuPrecision precision) {
    if (kind == DeviceKind::Cpu) return Status::ok();
#ifdef LECTERN_HAVE_CUDA
    // After a kernel fault (GPU-3) the GPU is refused for the rest of the process.
    if (Status f = cuda::deviceFaultStatus(); !f) {
        if (kind == DeviceKind::Cuda) return f.withContext("--device cuda");
        std::fprintf(stderr, "lectern: --device auto: %s; running on the CPU\n",
                     f.message().c_str());
        return Status::ok();
    }
    auto r = cuda::GpuRunner::create(
        m.cfg, m.w, 0,
        precision == GpuPrecision::Fp32 ? cuda::Precision::Fp32 : cuda::Precision::Bf16);
    if (r) {
        m.gpu = *r;
        return Status::ok();
    }
    if (kind == DeviceKind::Cuda) return r.status().withContext("--device cuda");
    std::fprintf(stderr, "lectern: --device auto: %s; running on the CPU\n", r.error().c_str());
    return Status::ok();
#else
    (void)m, (void)precision;  // only the CUDA build attaches anything to the model
    if (kind == DeviceKind::Cuda)
        return Status::error("--device cuda: this engine was built without the CUDA backend");
    std::fprintf(stderr, "lectern: --device auto: built without CUDA; running on the CPU\n");
    return Status::ok();
#endif
}

#ifdef LECTERN_HAVE_CUDA
namespace {
// A failed GPU call that met a kernel fault says so first (GPU-3), whatever error the
// fault surfaced as in that call.
Status namingFault(const cuda::GpuRunner& g, Status r) {
    if (r || !g.faulted()) return r;
    const std::string f = cuda::deviceFault();
    if (r.message().find(f) != std::string::npos) return r;
    return Status::error(f + "; " + r.message());
}

// A session whose newest state was on the GPU, which is gone (a failed piece, a kernel
// fault): back to empty, saying why.
Status stateLost(SessionScratch& s, DocumentState& state, std::vector<float>& lastLogits,
                 const std::string& why) {
    s.deviceValid = false;
    s.hostStateValid = s.hostLogitsValid = true;
    state.reset();
    lastLogits.clear();
    return Status::error(why + "; the session's state on the GPU was lost: it is reset to empty");
}
}  // namespace
#endif

bool ModelImpl::onGpu() const {
#ifdef LECTERN_HAVE_CUDA
    return gpu && !gpu->faulted();
#else
    return false;
#endif
}

Status ModelImpl::run(DocumentState& state, const int32_t* ids, int64_t T, ScanForm form,
                      SessionScratch& s, float* allLogits, float* lastLogits,
                      std::vector<std::vector<float>>* hidden) const {
#ifdef LECTERN_HAVE_CUDA
    // After a fault (GPU-3) the host state is untouched (forward writes it only on
    // success), so this call reports the fault and the next one runs on the CPU.
    if (onGpu())
        return namingFault(*gpu, gpu->forward(state, ids, T, form, allLogits, lastLogits, hidden));
    if (gpu) reserveScratch(s, T);
#endif
    forward(state, ids, T, form, s, allLogits, lastLogits, hidden);
    return Status::ok();
}

}  // namespace lectern::detail

namespace lectern::detail {

Status ModelImpl::runSession(DocumentState& state, std::vector<float>& lastLogits,
                             const int32_t* ids, int64_t T, ScanForm form, SessionScratch& s,
                             float* allLogits, std::vector<std::vector<float>>* hidden) const {
#ifdef LECTERN_HAVE_CUDA
    if (gpu && s.device && !onGpu()) {
        // The GPU faulted (GPU-3): the device copy is gone. A host copy that is current
        // carries on on the CPU; a stale one cannot be trusted.
        s.device.reset();
        if (!s.hostStateValid) return stateLost(s, state, lastLogits, cuda::deviceFault());
        s.deviceValid = false;
        // Stale logits: this piece overwrites them on the CPU below.
        if (!s.hostLogitsValid) std::fill(lastLogits.begin(), lastLogits.end(), 0.0f);
        s.hostLogitsValid = true;
    }
    if (onGpu()) {
        if (!s.device) {
            auto r = gpu->newResident();
            // No room for this session's own device state: round-trip through the shared one.
            if (!r) return run(state, ids, T, form, s, allLogits, lastLogits.data(), hidden);
            s.device = std::move(*r);
            s.deviceValid = false;
        }
        if (!s.deviceValid) {
            if (Status u = gpu->upload(state, lastLogits, *s.device); !u)
                return namingFault(*gpu, u);
            s.deviceValid = true;
        }
        if (Status r = namingFault(*gpu, gpu->run(*s.device, ids, T, form, allLogits, hidden));
            !r) {
            s.deviceValid = false;  // the device copy may hold part of the piece
            if (s.hostStateValid && s.hostLogitsValid) return r;  // untouched: retry possible
            return stateLost(s, state, lastLogits, r.message());
        }
        state.setPosition(state.position() + T);
        s.hostStateValid = false;
        s.hostLogitsValid = allLogits != nullptr;
        if (allLogits)
            std::copy_n(allLogits + (T - 1) * cfg.vocabPadded(), cfg.vocabPadded(),
                        lastLogits.data());
        return Status::ok();
    }
#endif
    return run(state, ids, T, form, s, allLogits, lastLogits.data(), hidden);
}

Status ModelImpl::syncHost(SessionScratch& s, DocumentState& state, std::vector<float>& lastLogits,
                           bool logits) const {
#ifdef LECTERN_HAVE_CUDA
    const bool wantState = !s.hostStateValid;
    const bool wantLogits = logits && !s.hostLogitsValid && !lastLogits.empty();
    if (!gpu || !s.device || !s.deviceValid || (!wantState && !wantLogits)) return Status::ok();
    if (!onGpu()) {  // GPU-3: the newest copy was on the device and cannot be read back
        s.device.reset();
        if (wantState) return stateLost(s, state, lastLogits, cuda::deviceFault());
        s.deviceValid = false;
        s.hostLogitsValid = true;
        lastLogits.clear();
        return Status::error(cuda::deviceFault() +
                             "; the session's last logits on the GPU were lost");
    }
    if (Status d = gpu->download(*s.device, wantState ? &state : nullptr,
                                 wantLogits ? lastLogits.data() : nullptr);
        !d)
        return d;
    if (wantState) s.hostStateValid = true;
    if (wantLogits) s.hostLogitsValid = true;
#else
    (void)s, (void)state, (void)lastLogits, (void)logits;
#endif
    return Status::ok();
}

bool ModelImpl::deviceArgmax(const SessionScratch& s, int n, int32_t& id) const {
#ifdef LECTERN_HAVE_CUDA
    if (!onGpu() || !s.device || !s.deviceValid || s.hostLogitsValid || n <= 0) return false;
    auto r = gpu->argmax(*s.device, n);
    if (!r) return false;
    id = *r;
    return true;
#else
    (void)s, (void)n, (void)id;
    return false;
#endif
}

bool ModelImpl::deviceSample(const SessionScratch& s, int n, float temperature, int topK,
                             float topP, float minP, double u, int32_t& id) const {
#ifdef LECTERN_HAVE_CUDA
    if (!onGpu() || !s.device || !s.deviceValid || s.hostLogitsValid || n <= 0) return false;
    cuda::GpuSampling o;
    o.temperature = temperature;
    o.topK = topK;
    o.topP = topP;
    o.minP = minP;
    auto r = gpu->sample(*s.device, n, o, u);
    if (!r) return false;
    id = *r;
    return true;
#else
    (void)s, (void)n, (void)temperature, (void)topK, (void)topP, (void)minP, (void)u, (void)id;
    return false;
#endif
}

bool ModelImpl::copyDevice(const SessionScratch& from, SessionScratch& to) const {
#ifdef LECTERN_HAVE_CUDA
    if (!onGpu() || !from.device || !from.deviceValid) return false;
    auto r = gpu->clone(*from.device);
    if (!r) return false;
    to.device = std::move(*r);
    to.deviceValid = true;
    to.hostStateValid = from.hostStateValid;
    to.hostLogitsValid = from.hostLogitsValid;
    return true;
#else
    (void)from, (void)to;
    return false;
#endif
}

}  // namespace lectern::detail
