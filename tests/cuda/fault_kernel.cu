// A test-only kernel that writes through a wild pointer (RELIABILITY GPU-3): it leaves the
// process's CUDA context broken, as a bug in a real kernel would.
#include <cuda_runtime.h>

#include <cstdint>

#include "fault_kernel.h"

namespace lectern::test {
namespace {

__global__ void writeThroughWildPointer(float* p) {
    p[threadIdx.x] = 1.0f;
}

}  // namespace

cudaError_t faultTheDevice() {
    // Address 16 is never mapped: the write is an illegal address.
    writeThroughWildPointer<<<1, 32>>>(reinterpret_cast<float*>(uintptr_t(16)));
    return cudaDeviceSynchronize();
}

}  // namespace lectern::test
