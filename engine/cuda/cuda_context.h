// The CUDA backend's runtime pieces: device probing with a clear message when there is no
// driver or GPU, CUDA errors turned into Status values, owning device buffers, and the
// stream + cuBLAS handle one model uses. Nothing here aborts.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "cuda/cuda_ops.h"
#include "lectern/status.h"

typedef struct cublasLtContext* cublasLtHandle_t;

namespace lectern::cuda {

struct DeviceInfo {
    int index = 0;
    std::string name;
    int smMajor = 0, smMinor = 0, multiprocessors = 0;
    size_t totalBytes = 0, freeBytes = 0;
};

// Status::error naming `what` and the CUDA error, or ok for cudaSuccess. A sticky error
// (below) also disables the backend and returns deviceFault()'s message.
Status cudaCheck(cudaError_t e, const std::string& what);

// RELIABILITY GPU-3. After a kernel faults (illegal address, device assert, ...) the CUDA
// context stays broken until the process exits: every later call fails. The first such
// error seen disables the CUDA backend for the rest of the process, so that callers stop
// serving errors and turn to the CPU instead of retrying the GPU.
// Records e if it is sticky; true if the backend is disabled (now or before).
bool noteDeviceError(cudaError_t e);
// Empty while the GPU is healthy; else "GPU device error (illegal address); CUDA backend
// disabled, restart required".
std::string deviceFault();
// deviceFault() as a Status (ok while healthy), for the checks at the top of each GPU call.
Status deviceFaultStatus();
// The device `index`, or an error such as "no CUDA device: CUDA driver version is
// insufficient" that a caller asking for `auto` can print before falling back to CPU.
Expected<DeviceInfo> probeDevice(int index = 0);

// One cudaMalloc'd region, freed on destruction; move-only.
class DeviceBuffer {
public:
    DeviceBuffer() = default;
    static Expected<DeviceBuffer> alloc(size_t bytes, const std::string& what);
    DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), bytes_(o.bytes_) { o.p_ = nullptr; }
    DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    ~DeviceBuffer();

    template <typename T>
    T* as() const {
        return static_cast<T*>(p_);
    }
    size_t bytes() const { return bytes_; }

private:
    void* p_ = nullptr;
    size_t bytes_ = 0;
};

// A bump allocator over one DeviceBuffer: the weights and the scratch are each one
// allocation, so a failed cudaMalloc is reported once, up front.
class Arena {
public:
    // Counts bytes (aligned to 256) without allocating; call allocate() afterwards.
    size_t reserve(size_t bytes);
    Status allocate(const std::string& what);
    // The next region of `bytes`, in reservation order.
    void* take(size_t bytes);
    size_t bytes() const { return total_; }

private:
    size_t total_ = 0, used_ = 0;
    DeviceBuffer buf_;
};

// A stream and a cuBLAS handle bound to it, with a fixed cuBLAS workspace so that graph
// capture never allocates; plus a cuBLASLt handle with its own fixed workspace, attached to
// the cuBLAS handle for the bf16 GEMMs (gemm_lt.h).
class Context {
public:
    static Expected<Context*> create(int device);  // caller owns
    ~Context();
    cudaStream_t stream() const { return stream_; }
    cublasHandle_t cublas() const { return cublas_; }
    int device() const { return device_; }

private:
    Context() = default;
    int device_ = 0;
    cudaStream_t stream_ = nullptr;
    cublasHandle_t cublas_ = nullptr;
    DeviceBuffer workspace_;
    cublasLtHandle_t cublasLt_ = nullptr;
    DeviceBuffer ltWorkspace_;
};

}  // namespace lectern::cuda
