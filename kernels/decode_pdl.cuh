// Programmatic dependent launch (PDL, Hopper) for the decode step's kernels. A kernel
// launched with cudaLaunchAttributeProgrammaticStreamSerialization may start while the
// previous kernel in the stream is still running, once every block of that kernel has
// called griddepcontrol.launch_dependents (or exited). Its blocks first load what does not
// depend on the previous kernel (weights, the recurrent state of an earlier step), then
// griddepcontrol.wait blocks until the previous kernel has completed and its writes are
// visible. At batch 1 the step is ~150 short kernels, so this overlaps each kernel's
// launch, ramp-up and first weight loads with the previous kernel's tail.
// Rule for every kernel launched this way: before pdlWait() read only memory no kernel of
// the step writes. Launched without the attribute (or before sm_90), both calls are no-ops.
#pragma once

#include <cuda_runtime.h>

#include <utility>

namespace lectern::cuda::detail {

__device__ __forceinline__ void pdlWait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdlLaunchDependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Blocks of `kernel` resident at once on the whole device (occupancy × multiprocessors).
template <typename Kernel>
int residentBlocks(Kernel kernel, int threads, size_t smem) {
    static const int sms = [] {
        int n = 132, dev = 0;
        if (cudaGetDevice(&dev) == cudaSuccess)
            cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev);
        return n;
    }();
    int perSm = 1;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, kernel, threads, smem) !=
            cudaSuccess ||
        perSm < 1)
        perSm = 1;
    return perSm * sms;
}

// kernel<<<grid, block, smem, s>>>(args...), with the PDL attribute when `pdl`.
template <typename... KArgs, typename... Args>
cudaError_t launchMaybePdl(bool pdl, void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem,
                           cudaStream_t s, Args&&... args) {
    cudaLaunchConfig_t cfg{};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = s;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = pdl ? 1 : 0;
    return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}

}  // namespace lectern::cuda::detail
