// Run-time device selection (issue 4): --device cpu|cuda|auto. Cuda runs the model on
// GPU 0 and fails with a clear message where there is none; Auto does the same but falls
// back to the CPU, saying why on stderr. ModelImpl::run is the Status-returning forward
// that Session calls: the GPU when one is attached, else the CPU reference.
#include <cstdio>

#include "model/model_impl.h"
#ifdef LECTERN_HAVE_CUDA
#include "cuda/gpu_runner.h"
#endif

namespace lectern::detail {

Status attachDevice(ModelImpl& m, DeviceKind kind) {
    if (kind == DeviceKind::Cpu) return Status::ok();
#ifdef LECTERN_HAVE_CUDA
    auto r = cuda::GpuRunner::create(m.cfg, m.w, 0);
    if (r) {
        m.gpu = *r;
        return Status::ok();
    }
    if (kind == DeviceKind::Cuda) return r.status().withContext("--device cuda");
    std::fprintf(stderr, "lectern: --device auto: %s; running on the CPU\n", r.error().c_str());
    return Status::ok();
#else
    if (kind == DeviceKind::Cuda)
        return Status::error("--device cuda: this engine was built without the CUDA backend");
    std::fprintf(stderr, "lectern: --device auto: built without CUDA; running on the CPU\n");
    return Status::ok();
#endif
}

Status ModelImpl::run(DocumentState& state, const int32_t* ids, int64_t T, ScanForm form,
                      SessionScratch& s, float* allLogits, float* lastLogits,
                      std::vector<std::vector<float>>* hidden) const {
#ifdef LECTERN_HAVE_CUDA
    if (gpu) return gpu->forward(state, ids, T, form, allLogits, lastLogits, hidden);
#endif
    forward(state, ids, T, form, s, allLogits, lastLogits, hidden);
    return Status::ok();
}

}  // namespace lectern::detail
