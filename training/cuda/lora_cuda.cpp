// LoRA adapters on the GPU (lora_cuda.h).
//
// Layout: every target's A [r, in] and B [out, r] lie in one flat buffer (each at a
// 64-float aligned offset, the gaps zero), mirrored by the gradients and both moments, so
// the global norm is one grad_sumsq and the update one adamw_step over the whole buffer
// (the zero gaps stay zero: AdamW of w = g = m = v = 0 is 0). The base copies of the
// targets' weights are a second buffer.
//
// cuBLAS is column-major: a row-major X [m, n] is a column-major Xᵀ [n, m] with leading
// dimension n, so each row-major product below is computed as its transpose.
#include "training/cuda/lora_cuda.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "cuda/cuda_context.h"
#include "training/cuda/ops_backward_cuda.h"

namespace lectern::train {

using lectern::cuda::cudaCheck;
using lectern::cuda::DeviceBuffer;

namespace {

int64_t align64(int64_t n) {
    return (n + 63) / 64 * 64;
}

Status cublasCheck(cublasStatus_t st, const std::string& what) {
    if (st == CUBLAS_STATUS_SUCCESS) return Status::ok();
    return Status::error("CUDA LoRA: cuBLAS error " + std::to_string(int(st)) + " in " + what);
}

struct DevTarget {
    std::string name;
    int64_t out = 0, in = 0;
    int64_t offA = 0, offB = 0, offBase = 0;  // into the flat buffers / the base buffer
    float* weight = nullptr;                  // the model's device weight (merged)
    float* grad = nullptr;                    // the model's device gradient of it
};

}  // namespace

struct CudaLora::Impl {
    cudaStream_t s = nullptr;
    cublasHandle_t h = nullptr;
    int r = 0;
    float scale = 0.0f;
    int64_t step = 0;
    int64_t flat = 0;  // floats in each of P, G, M, V
    std::vector<DevTarget> targets;
    DeviceBuffer buf;   // P, G, M, V, then the bases
    DeviceBuffer sums;  // one double: the adapters' sum of squares
    float *P = nullptr, *G = nullptr, *M = nullptr, *V = nullptr, *base = nullptr;
    double* sumsq = nullptr;
    bool normValid = false;
    double lastSumsq = 0.0;  // gradNorm's, on the host

    ~Impl() {
        if (h != nullptr) cublasDestroy(h);
    }

    // Host vectors <-> the flat buffer at `off` (one of P, G, M, V).
    Status copy(float* dev, const std::vector<float>& v, int64_t off) const {
        return cudaCheck(
            cudaMemcpyAsync(dev + off, v.data(), v.size() * 4, cudaMemcpyHostToDevice, s),
            "uploading LoRA adapters");
    }
    Status fetch(std::vector<float>& v, const float* dev, int64_t off) const {
        return cudaCheck(
            cudaMemcpyAsync(v.data(), dev + off, v.size() * 4, cudaMemcpyDeviceToHost, s),
            "downloading LoRA adapters");
    }
};

CudaLora::CudaLora(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaLora::~CudaLora() = default;

Expected<std::unique_ptr<CudaLora>> CudaLora::create(CudaTrainModel& m, const LoraAdapters& a) {
    auto impl = std::make_unique<Impl>();
    Impl& L = *impl;
    L.s = static_cast<cudaStream_t>(m.stream());
    L.r = a.cfg.rank;
    L.scale = float(a.cfg.scale());
    L.step = a.step;
    int64_t baseFloats = 0;
    for (const LoraTarget& t : a.targets) {
        auto p = m.deviceParam(t.name);
        if (!p) return p.status();
        if (p->n != t.out * t.in || int64_t(t.A.size()) != L.r * t.in ||
            int64_t(t.B.size()) != t.out * L.r)
            return Status::error("CUDA LoRA: the adapters of " + t.name +
                                 " do not fit the model's shape");
        DevTarget d{t.name, t.out, t.in, L.flat, 0, baseFloats, p->weight, p->grad};
        L.flat += align64(L.r * t.in);
        d.offB = L.flat;
        L.flat += align64(t.out * L.r);
        baseFloats += align64(t.out * t.in);
        L.targets.push_back(d);
    }
    const size_t flatBytes = size_t(L.flat) * 4;
    auto buf = DeviceBuffer::alloc(4 * flatBytes + size_t(baseFloats) * 4,
                                   "LoRA adapters, gradients, moments and base weights");
    if (!buf) return buf.status();
    L.buf = std::move(*buf);
    auto sums = DeviceBuffer::alloc(sizeof(double), "LoRA gradient norm");
    if (!sums) return sums.status();
    L.sums = std::move(*sums);
    L.P = L.buf.as<float>();
    L.G = L.P + L.flat, L.M = L.G + L.flat, L.V = L.M + L.flat, L.base = L.V + L.flat;
    L.sumsq = L.sums.as<double>();
    if (Status st = cudaCheck(cudaMemsetAsync(L.P, 0, 4 * flatBytes, L.s), "zeroing LoRA buffers");
        !st)
        return st;
    for (size_t i = 0; i < a.targets.size(); ++i) {
        const LoraTarget& t = a.targets[i];
        const DevTarget& d = L.targets[i];
        for (auto [dev, off, v] : {std::tuple{L.P, d.offA, &t.A}, std::tuple{L.P, d.offB, &t.B},
                                   std::tuple{L.M, d.offA, &t.mA}, std::tuple{L.M, d.offB, &t.mB},
                                   std::tuple{L.V, d.offA, &t.vA}, std::tuple{L.V, d.offB, &t.vB}})
            if (!v->empty())  // moments absent: zeros (a fresh run)
                if (Status st = L.copy(dev, *v, off); !st) return st;
        if (Status st =
                cudaCheck(cudaMemcpyAsync(L.base + d.offBase, d.weight, size_t(d.out * d.in) * 4,
                                          cudaMemcpyDeviceToDevice, L.s),
                          "copying the LoRA base weights");
            !st)
            return st;
    }
    if (Status st = cublasCheck(cublasCreate(&L.h), "cublasCreate"); !st) return st;
    if (Status st = cublasCheck(cublasSetStream(L.h, L.s), "cublasSetStream"); !st) return st;
    // Exact fp32 (no TF32), as the CPU reference and the rest of the training step.
    if (Status st = cublasCheck(cublasSetMathMode(L.h, CUBLAS_PEDANTIC_MATH), "cublasSetMathMode");
        !st)
        return st;
    std::unique_ptr<CudaLora> out(new CudaLora(std::move(impl)));
    if (Status st = out->merge(); !st) return st;
    return out;
}

Status CudaLora::merge() {
    Impl& L = *impl_;
    const float one = 1.0f;
    for (const DevTarget& d : L.targets) {
        if (Status st =
                cudaCheck(cudaMemcpyAsync(d.weight, L.base + d.offBase, size_t(d.out * d.in) * 4,
                                          cudaMemcpyDeviceToDevice, L.s),
                          "restoring the LoRA base weights");
            !st)
            return st;
        // Row-major W [out, in] += s·B [out, r]·A [r, in], i.e. column-major
        // Wᵀ [in, out] += s·Aᵀ [in, r]·Bᵀ [r, out].
        if (Status st = cublasCheck(
                cublasSgemm(L.h, CUBLAS_OP_N, CUBLAS_OP_N, int(d.in), int(d.out), L.r, &L.scale,
                            L.P + d.offA, int(d.in), L.P + d.offB, L.r, &one, d.weight, int(d.in)),
                "the LoRA merge of " + d.name);
            !st)
            return st;
    }
    return cudaCheck(cudaGetLastError(), "the LoRA merge");
}

Expected<double> CudaLora::gradNorm() {
    Impl& L = *impl_;
    const float zero = 0.0f;
    for (const DevTarget& d : L.targets) {
        // dB [out, r] = s·G [out, in]·Aᵀ: column-major dBᵀ [r, out] = s·A [r, in]·Gᵀ [in, out].
        if (Status st = cublasCheck(
                cublasSgemm(L.h, CUBLAS_OP_T, CUBLAS_OP_N, L.r, int(d.out), int(d.in), &L.scale,
                            L.P + d.offA, int(d.in), d.grad, int(d.in), &zero, L.G + d.offB, L.r),
                "the LoRA gradient dB of " + d.name);
            !st)
            return st;
        // dA [r, in] = s·Bᵀ [r, out]·G [out, in]: column-major dAᵀ [in, r] = s·Gᵀ [in, out]·B.
        if (Status st = cublasCheck(
                cublasSgemm(L.h, CUBLAS_OP_N, CUBLAS_OP_T, int(d.in), L.r, int(d.out), &L.scale,
                            d.grad, int(d.in), L.P + d.offB, L.r, &zero, L.G + d.offA, int(d.in)),
                "the LoRA gradient dA of " + d.name);
            !st)
            return st;
    }
    cudaMemsetAsync(L.sumsq, 0, sizeof(double), L.s);
    if (Status st = cudaCheck(cuda::grad_sumsq(L.G, L.flat, L.sumsq, nullptr, L.s),
                              "the LoRA gradient norm");
        !st)
        return st;
    double ss = 0.0;
    cudaMemcpyAsync(&ss, L.sumsq, sizeof(double), cudaMemcpyDeviceToHost, L.s);
    if (Status st = cudaCheck(cudaStreamSynchronize(L.s), "the LoRA gradient norm"); !st) return st;
    L.normValid = true;
    L.lastSumsq = ss;
    return std::sqrt(ss);
}

Status CudaLora::adamwStep(const AdamWConfig& c, double lr, float gradScale) {
    Impl& L = *impl_;
    if (!L.normValid)  // the guard below reads this step's sum of squares
        if (auto n = gradNorm(); !n) return n.status();
    L.normValid = false;
    if (!std::isfinite(L.lastSumsq)) return Status::ok();  // NUM-4 (the kernel checks too)
    L.step += 1;
    cuda::AdamWStep a;
    a.lr = lr, a.beta1 = c.beta1, a.beta2 = c.beta2, a.eps = c.eps;
    a.wd = float(c.weightDecay);  // on A and B alike, as loraAdamw
    a.step = L.step;
    a.gradFactor = gradScale;
    if (Status st = cudaCheck(cuda::adamw_step(a, L.P, L.G, L.M, L.V, L.flat, L.sumsq, L.s),
                              "AdamW on the LoRA adapters");
        !st)
        return st;
    if (Status st = merge(); !st) return st;
    return cudaCheck(cudaStreamSynchronize(L.s), "the LoRA update");
}

Status CudaLora::download(LoraAdapters& a, bool grads) const {
    const Impl& L = *impl_;
    if (a.targets.size() != L.targets.size())
        return Status::error("CUDA LoRA: the host adapters do not match the device's");
    for (size_t i = 0; i < a.targets.size(); ++i) {
        LoraTarget& t = a.targets[i];
        const DevTarget& d = L.targets[i];
        t.A.resize(size_t(L.r * d.in)), t.B.resize(size_t(d.out * L.r));
        for (auto* v : {&t.mA, &t.vA, &t.gA}) v->resize(t.A.size());
        for (auto* v : {&t.mB, &t.vB, &t.gB}) v->resize(t.B.size());
        for (auto [v, dev, off] : {std::tuple{&t.A, L.P, d.offA}, std::tuple{&t.B, L.P, d.offB},
                                   std::tuple{&t.mA, L.M, d.offA}, std::tuple{&t.mB, L.M, d.offB},
                                   std::tuple{&t.vA, L.V, d.offA}, std::tuple{&t.vB, L.V, d.offB}})
            if (Status st = L.fetch(*v, dev, off); !st) return st;
        if (grads) {
            if (Status st = L.fetch(t.gA, L.G, d.offA); !st) return st;
            if (Status st = L.fetch(t.gB, L.G, d.offB); !st) return st;
        }
    }
    a.step = L.step;
    return cudaCheck(cudaStreamSynchronize(L.s), "downloading LoRA adapters");
}

size_t CudaLora::deviceBytes() const {
    return impl_->buf.bytes() + impl_->sums.bytes();
}

}  // namespace lectern::train
