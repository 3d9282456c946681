// Whether a CUDA GPU can be used here, in plain words for greying out GPU choices: empty
// when one can, else the reason ("this build has no CUDA backend", "no usable GPU: …").
// Probing initialises CUDA (can take a moment): call it on a worker thread.
#pragma once

#include <QString>

namespace lectern::ui {

QString gpuUnavailableReason();

}  // namespace lectern::ui
