// Device probing, CUDA errors as Status, device buffers and the stream/cuBLAS context.
#include "cuda/cuda_context.h"

#include <cublas_v2.h>

#include "cuda/gemm_lt.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace lectern::cuda {

namespace {

// What a sticky error means, in the words the message uses; null if e is not sticky.
const char* stickyDescription(cudaError_t e) {
    switch (e) {
        case cudaErrorIllegalAddress:
            return "illegal address";
        case cudaErrorMisalignedAddress:
            return "misaligned address";
        case cudaErrorInvalidAddressSpace:
            return "invalid address space";
        case cudaErrorIllegalInstruction:
            return "illegal instruction";
        case cudaErrorInvalidPc:
            return "invalid program counter";
        case cudaErrorHardwareStackError:
            return "hardware stack error";
        case cudaErrorAssert:
            return "device-side assert";
        case cudaErrorLaunchFailure:
            return "launch failure";
        case cudaErrorLaunchTimeout:
            return "kernel timed out";
        case cudaErrorECCUncorrectable:
            return "uncorrectable ECC error";
        default:
            return nullptr;
    }
}

struct FaultRecord {
    std::atomic<bool> set{false};
    std::once_flag once;
    std::string message;  // written once, before `set`
};

FaultRecord& faultRecord() {
    static FaultRecord r;
    return r;
}

}  // namespace

bool noteDeviceError(cudaError_t e) {
    FaultRecord& r = faultRecord();
    if (const char* d = stickyDescription(e)) {
        std::call_once(r.once, [&] {
            r.message = std::string("GPU device error (") + d +
                        "); CUDA backend disabled, restart required";
            r.set.store(true, std::memory_order_release);
            // Once, for logs: the calls after this one run on the CPU or fail with it.
            std::fprintf(stderr, "lectern: %s\n", r.message.c_str());
        });
    }
    return r.set.load(std::memory_order_acquire);
}

std::string deviceFault() {
    FaultRecord& r = faultRecord();
    return r.set.load(std::memory_order_acquire) ? r.message : std::string();
}

Status deviceFaultStatus() {
    const std::string f = deviceFault();
    return f.empty() ? Status::ok() : Status::error(f);
}

Status cudaCheck(cudaError_t e, const std::string& what) {
    if (e == cudaSuccess) return Status::ok();
    if (noteDeviceError(e)) return Status::error(deviceFault() + " (" + what + ")");
    cudaGetLastError();  // not sticky: reported here, so no later check sees it again
    return Status::error("CUDA: " + what + ": " + cudaGetErrorName(e) + " (" +
                         cudaGetErrorString(e) + ")");
}

Expected<DeviceInfo> probeDevice(int index) {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();  // clear it: the process stays usable for the CPU backend
        return Status::error(std::string("no CUDA device: ") + cudaGetErrorString(e));
    }
    if (count == 0) return Status::error("no CUDA device: the driver reports no GPU");
    if (index < 0 || index >= count)
        return Status::error("CUDA device " + std::to_string(index) + " does not exist (" +
                             std::to_string(count) + " present)");
    cudaDeviceProp p{};
    if (Status s = cudaCheck(cudaGetDeviceProperties(&p, index), "reading device properties"); !s)
        return s;
    DeviceInfo d;
    d.index = index;
    d.name = p.name;
    d.smMajor = p.major;
    d.smMinor = p.minor;
    d.multiprocessors = p.multiProcessorCount;
    d.totalBytes = p.totalGlobalMem;
    if (Status s = cudaCheck(cudaSetDevice(index), "selecting the device"); !s) return s;
    if (Status s = cudaCheck(cudaMemGetInfo(&d.freeBytes, &d.totalBytes), "reading free memory");
        !s)
        return s;
    return d;
}

Expected<DeviceBuffer> DeviceBuffer::alloc(size_t bytes, const std::string& what) {
    DeviceBuffer b;
    if (bytes == 0) return b;
    const cudaError_t e = cudaMalloc(&b.p_, bytes);
    if (e != cudaSuccess) {
        b.p_ = nullptr;
        cudaGetLastError();  // clear a non-sticky error (out of memory) so it is reported once
        if (e != cudaErrorMemoryAllocation) return cudaCheck(e, "allocating " + what);
        size_t freeB = 0, totalB = 0;
        cudaMemGetInfo(&freeB, &totalB);
        // RELIABILITY GPU-1's wording: what was asked for and what there was.
        return Status::error("CUDA out of memory: need " + std::to_string((bytes + 0xFFFFF) >> 20) +
                             " MiB, free " + std::to_string(freeB >> 20) + " MiB (of " +
                             std::to_string(totalB >> 20) + " MiB; allocating " + what + ")");
    }
    b.bytes_ = bytes;
    return b;
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
        if (p_) cudaFree(p_);
        p_ = o.p_;
        bytes_ = o.bytes_;
        o.p_ = nullptr;
        o.bytes_ = 0;
    }
    return *this;
}

DeviceBuffer::~DeviceBuffer() {
    if (p_) cudaFree(p_);
}

size_t Arena::reserve(size_t bytes) {
    const size_t at = total_;
    total_ += (bytes + 255) / 256 * 256;
    return at;
}

Status Arena::allocate(const std::string& what) {
    auto b = DeviceBuffer::alloc(total_, what);
    if (!b) return b.status();
    buf_ = std::move(*b);
    used_ = 0;
    return Status::ok();
}

void* Arena::take(size_t bytes) {
    char* p = buf_.as<char>() + used_;
    used_ += (bytes + 255) / 256 * 256;
    return p;
}

Expected<Context*> Context::create(int device) {
    auto info = probeDevice(device);
    if (!info) return info.status();
    auto* c = new Context();
    c->device_ = device;
    Status s = cudaCheck(cudaStreamCreateWithFlags(&c->stream_, cudaStreamNonBlocking),
                         "creating a stream");
    if (s) {
        const cublasStatus_t b = cublasCreate(&c->cublas_);
        if (b == CUBLAS_STATUS_ALLOC_FAILED)
            s = Status::error("CUDA out of memory: cuBLAS could not allocate its handle");
        else if (b != CUBLAS_STATUS_SUCCESS)
            s = Status::error(std::string("cuBLAS: cublasCreate failed: ") +
                              cublasGetStatusString(b));
    }
    if (s) {
        auto ws = DeviceBuffer::alloc(32u << 20, "the cuBLAS workspace");
        if (!ws)
            s = ws.status();
        else
            c->workspace_ = std::move(*ws);
    }
    if (s && (cublasSetStream(c->cublas_, c->stream_) != CUBLAS_STATUS_SUCCESS ||
              cublasSetWorkspace(c->cublas_, c->workspace_.as<void>(), c->workspace_.bytes()) !=
                  CUBLAS_STATUS_SUCCESS))
        s = Status::error("cuBLAS: binding the stream and workspace failed");
    // The bf16 GEMMs' cuBLASLt handle and workspace (gemm_lt.h); 32 MiB as cuBLAS's: the
    // heuristic's choice depends on the limit, so it is fixed.
    if (s && cublasLtCreate(&c->cublasLt_) != CUBLAS_STATUS_SUCCESS)
        s = Status::error("cuBLAS: cublasLtCreate failed");
    if (s) {
        auto ws = DeviceBuffer::alloc(32u << 20, "the cuBLASLt workspace");
        if (!ws)
            s = ws.status();
        else
            c->ltWorkspace_ = std::move(*ws);
    }
    if (!s) {
        delete c;
        return s;
    }
    gemm_lt_attach(c->cublas_, c->cublasLt_, c->ltWorkspace_.as<void>(), c->ltWorkspace_.bytes());
    return c;
}

Context::~Context() {
    if (cublas_) gemm_lt_detach(cublas_);
    if (cublasLt_) cublasLtDestroy(cublasLt_);
    if (cublas_) cublasDestroy(cublas_);
    if (stream_) cudaStreamDestroy(stream_);
}

}  // namespace lectern::cuda
