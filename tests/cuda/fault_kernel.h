// Test-only: breaks the process's CUDA context on purpose (RELIABILITY GPU-3).
#pragma once

#include <cuda_runtime.h>

namespace lectern::test {

// Launches a kernel that writes out of bounds and waits for it; returns what the wait
// reported (cudaErrorIllegalAddress). Every later CUDA call of the process fails.
cudaError_t faultTheDevice();

}  // namespace lectern::test
