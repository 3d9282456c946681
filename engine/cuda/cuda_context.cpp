// Device probing, CUDA errors as Status, device buffers and the stream/cuBLAS context.
#include "cuda/cuda_context.h"

#include <cublas_v2.h>

namespace lectern::cuda {

Status cudaCheck(cudaError_t e, const std::string& what) {
    if (e == cudaSuccess) return Status::ok();
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
        cudaGetLastError();  // an out-of-memory error is not sticky: clear and report it
        b.p_ = nullptr;
        size_t freeB = 0, totalB = 0;
        cudaMemGetInfo(&freeB, &totalB);
        return Status::error("CUDA: out of device memory allocating " + what + " (" +
                             std::to_string(bytes >> 20) + " MiB; " + std::to_string(freeB >> 20) +
                             " MiB free of " + std::to_string(totalB >> 20) +
                             " MiB): " + cudaGetErrorString(e));
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
    if (s && cublasCreate(&c->cublas_) != CUBLAS_STATUS_SUCCESS)
        s = Status::error("cuBLAS: cublasCreate failed (driver or memory problem)");
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
    if (!s) {
        delete c;
        return s;
    }
    return c;
}

Context::~Context() {
    if (cublas_) cublasDestroy(cublas_);
    if (stream_) cudaStreamDestroy(stream_);
}

}  // namespace lectern::cuda
