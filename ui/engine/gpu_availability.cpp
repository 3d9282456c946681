// gpuUnavailableReason: the build flag first, then a probe of device 0.
#include "engine/gpu_availability.h"

#include <QObject>

#include "lectern/version.h"

#if LECTERN_HAVE_CUDA
#include "cuda/cuda_context.h"
#endif

namespace lectern::ui {

QString gpuUnavailableReason() {
    if (!kBuiltWithCuda) return QObject::tr("this build has no CUDA backend");
#if LECTERN_HAVE_CUDA
    auto info = cuda::probeDevice(0);
    if (!info) return QObject::tr("no usable GPU: %1").arg(QString::fromStdString(info.error()));
#endif
    return {};
}

}  // namespace lectern::ui
