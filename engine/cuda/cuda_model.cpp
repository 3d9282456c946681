// CudaModel: creation, the weights on the device, and document states on the device
// (allocation, upload from and download to DocumentState). The forward pass is in
// cuda_forward.cpp.
#include "cuda/cuda_model.h"

#include <cuda_runtime.h>

#include <cmath>

namespace lectern::cuda {

struct CudaModel::WeightSlot {
    const float** f32;
    const void** bf16;  // null: no bf16 copy
    int64_t n;
    const std::vector<float>* host;
    float lo, hi;
};

CudaModel::~CudaModel() {
    graphs_.clear();
    if (pinnedIds_) cudaFreeHost(pinnedIds_);
    if (pinnedLogits_) cudaFreeHost(pinnedLogits_);
}

Status CudaModel::checkDims() const {
    const ops::Mamba3Dims& d = d_;
    if (d.R > 16 || d.P > 256 || d.N > 256 || d.A > d.N / 2)
        return Status::error(
            "the CUDA backend supports MIMO rank <= 16, headdim <= 256 and "
            "d_state <= 256; this model has rank " +
            std::to_string(d.R) + ", headdim " + std::to_string(d.P) + ", d_state " +
            std::to_string(d.N));
    return Status::ok();
}

std::vector<CudaModel::WeightSlot> CudaModel::weightSlots(const model::ModelWeights* w) {
    const bool bf = opt_.precision == Precision::Bf16;
    const int64_t D = cfg_.dModel, V = cfg_.vocabPadded(), F = cfg_.mlpHidden();
    const ops::Mamba3Dims& d = d_;
    const int64_t HRN = int64_t(d.H) * d.R * d.N, HRP = int64_t(d.H) * d.R * d.P;
    std::vector<WeightSlot> s;
    auto mat = [&](DeviceMatrix& m, int64_t rows, int64_t cols, const std::vector<float>* h,
                   float scale) {
        m.rows = rows;
        m.cols = cols;
        s.push_back({&m.f32, bf ? &m.bf16 : nullptr, rows * cols, h, -scale, scale});
    };
    auto vec = [&](const float*& p, int64_t n, const std::vector<float>* h, float lo, float hi) {
        s.push_back({&p, nullptr, n, h, lo, hi});
    };
    mat(embedding_, V, D, w ? &w->embedding : nullptr, 0.05f);
    vec(normF_, D, w ? &w->normF : nullptr, 0.8f, 1.2f);
    if (!cfg_.tieEmbeddings) mat(lmHead_, V, D, w ? &w->lmHead : nullptr, 0.05f);
    layers_.assign(size_t(cfg_.nLayer), DeviceLayer{});
    for (int i = 0; i < cfg_.nLayer; ++i) {
        DeviceLayer& L = layers_[size_t(i)];
        const model::LayerWeights* h = w ? &w->layers[size_t(i)] : nullptr;
        vec(L.norm, D, h ? &h->norm : nullptr, 0.8f, 1.2f);
        mat(L.inProj, d.dInProj(), D, h ? &h->inProj : nullptr, 1.0f / std::sqrt(float(D)));
        vec(L.dtBias, d.H, h ? &h->dtBias : nullptr, -6.0f, -2.5f);  // dt in ~[0.0025, 0.08]
        vec(L.bBias, HRN, h ? &h->bBias : nullptr, 0.5f, 1.5f);
        vec(L.cBias, HRN, h ? &h->cBias : nullptr, 0.5f, 1.5f);
        vec(L.bNorm, d.N, h ? &h->bNorm : nullptr, 0.8f, 1.2f);
        vec(L.cNorm, d.N, h ? &h->cNorm : nullptr, 0.8f, 1.2f);
        vec(L.D, d.H, h ? &h->D : nullptr, 0.5f, 1.5f);
        if (d.mimo) {
            vec(L.mimoX, HRP, h ? &h->mimoX : nullptr, 0.7f, 1.3f);
            vec(L.mimoZ, HRP, h ? &h->mimoZ : nullptr, 0.7f, 1.3f);
            vec(L.mimoO, HRP, h ? &h->mimoO : nullptr, 0.7f, 1.3f);
        }
        if (cfg_.ssm.isOutprojNorm)
            vec(L.outNorm, d.dInner(), h ? &h->outNorm : nullptr, 0.8f, 1.2f);
        mat(L.outProj, D, d.dInner(), h ? &h->outProj : nullptr,
            1.0f / std::sqrt(float(d.dInner())));
        if (F > 0) {
            vec(L.norm2, D, h ? &h->norm2 : nullptr, 0.8f, 1.2f);
            mat(L.fc1, 2 * F, D, h ? &h->fc1 : nullptr, 1.0f / std::sqrt(float(D)));
            mat(L.fc2, D, F, h ? &h->fc2 : nullptr, 1.0f / std::sqrt(float(F)));
        }
    }
    return s;
}

Status CudaModel::loadWeights(const model::ModelWeights* w, uint64_t seed) {
    std::vector<WeightSlot> slots = weightSlots(w);
    for (const WeightSlot& s : slots) {
        if (s.host && int64_t(s.host->size()) != s.n)
            return Status::error("CUDA backend: a weight tensor has " +
                                 std::to_string(s.host->size()) + " values, expected " +
                                 std::to_string(s.n));
        weights_.reserve(size_t(s.n) * 4);
        if (s.bf16) weights_.reserve(size_t(s.n) * 2);
    }
    if (Status st = weights_.allocate("the model weights"); !st) return st;
    const cudaStream_t str = ctx_->stream();
    uint64_t k = 0;
    for (const WeightSlot& s : slots) {
        float* p = static_cast<float*>(weights_.take(size_t(s.n) * 4));
        *s.f32 = p;
        if (s.host) {
            if (Status st = cudaCheck(cudaMemcpyAsync(p, s.host->data(), size_t(s.n) * 4,
                                                      cudaMemcpyHostToDevice, str),
                                      "copying weights to the device");
                !st)
                return st;
        } else {
            fill_uniform(p, s.n, s.lo, s.hi, seed * 1000003ull + ++k, str);
        }
        if (s.bf16) {
            void* b = weights_.take(size_t(s.n) * 2);
            to_bf16(b, p, s.n, str);
            *s.bf16 = b;
        }
    }
    if (cfg_.tieEmbeddings) lmHead_ = embedding_;
    return cudaCheck(cudaStreamSynchronize(str), "uploading the weights");
}

namespace {

Expected<std::unique_ptr<CudaModel>> finish(std::unique_ptr<CudaModel> m, Status s) {
    if (!s) return s;
    return m;
}

}  // namespace

Expected<std::unique_ptr<CudaModel>> CudaModel::create(const model::ModelConfig& cfg,
                                                       const model::ModelWeights& w,
                                                       const CudaOptions& opt) {
    std::unique_ptr<CudaModel> m(new CudaModel());
    m->cfg_ = cfg;
    m->d_ = cfg.dims();
    m->opt_ = opt;
    if (Status s = m->checkDims(); !s) return s;
    auto ctx = Context::create(opt.device);
    if (!ctx) return ctx.status();
    m->ctx_.reset(*ctx);
    m->gemm_.handle = m->ctx_->cublas();
    m->gemm_.precision = opt.precision;
    Status s = m->loadWeights(&w, 0);
    return finish(std::move(m), s);
}

Expected<std::unique_ptr<CudaModel>> CudaModel::createRandom(const model::ModelConfig& cfg,
                                                             uint64_t seed,
                                                             const CudaOptions& opt) {
    std::unique_ptr<CudaModel> m(new CudaModel());
    m->cfg_ = cfg;
    m->d_ = cfg.dims();
    m->opt_ = opt;
    if (Status s = m->checkDims(); !s) return s;
    auto ctx = Context::create(opt.device);
    if (!ctx) return ctx.status();
    m->ctx_.reset(*ctx);
    m->gemm_.handle = m->ctx_->cublas();
    m->gemm_.precision = opt.precision;
    Status s = m->loadWeights(nullptr, seed);
    return finish(std::move(m), s);
}

Expected<DeviceStates> CudaModel::newStates(int batch) const {
    const ops::Mamba3Dims& d = d_;
    const int64_t nA = int64_t(d.H) * d.A, nS = int64_t(d.H) * d.P * d.N,
                  nK = int64_t(d.R) * d.H * d.N, nV = int64_t(d.H) * d.P;
    const int64_t perLayer = int64_t(batch) * (nA + nS + nK + nV);
    DeviceStates st;
    st.batch = batch;
    st.position.assign(size_t(batch), 0);
    auto buf = DeviceBuffer::alloc(size_t(perLayer * cfg_.nLayer) * 4, "document states");
    if (!buf) return buf.status();
    st.buf = std::move(*buf);
    // On the model's stream (non-blocking: it does not order with the legacy stream).
    cudaMemsetAsync(st.buf.as<void>(), 0, st.buf.bytes(), ctx_->stream());
    if (Status s = cudaCheck(cudaStreamSynchronize(ctx_->stream()), "zeroing states"); !s) return s;
    for (int i = 0; i < cfg_.nLayer; ++i) {
        float* base = st.buf.as<float>() + i * perLayer;
        st.angle.push_back(base);
        float* ssm = base + batch * nA;
        float* k = ssm + batch * nS;
        st.layer.push_back({ssm, k, k + batch * nK});
    }
    return st;
}

namespace {

// The four tensors of layer i for document `slot`: device pointer and float count.
struct Part {
    float* dev;
    std::vector<float>* host;
};

}  // namespace

Status CudaModel::upload(const DocumentState& from, DeviceStates& to, int slot) const {
    const ops::Mamba3Dims& d = d_;
    const StateShape want{cfg_.nLayer, d.H, d.P, d.N, d.R, d.A};
    if (!(from.shape() == want)) return Status::error("state shape does not match the model");
    if (slot < 0 || slot >= to.batch) return Status::error("state slot out of range");
    auto& src = const_cast<DocumentState&>(from);  // read only; Part wants non-const
    for (int i = 0; i < cfg_.nLayer; ++i) {
        LayerState& L = src.layers()[size_t(i)];
        const Part parts[4] = {{to.angle[i] + slot * L.angle.size(), &L.angle},
                               {to.layer[i].ssm + slot * L.ssm.size(), &L.ssm},
                               {to.layer[i].k + slot * L.k.size(), &L.k},
                               {to.layer[i].v + slot * L.v.size(), &L.v}};
        for (const Part& p : parts)
            if (Status s = cudaCheck(cudaMemcpyAsync(p.dev, p.host->data(), p.host->size() * 4,
                                                     cudaMemcpyHostToDevice, ctx_->stream()),
                                     "uploading a state");
                !s)
                return s;
    }
    to.position[size_t(slot)] = from.position();
    return cudaCheck(cudaStreamSynchronize(ctx_->stream()), "uploading a state");
}

Status CudaModel::download(const DeviceStates& from, int slot, DocumentState& to) const {
    const ops::Mamba3Dims& d = d_;
    const StateShape want{cfg_.nLayer, d.H, d.P, d.N, d.R, d.A};
    if (!(to.shape() == want)) to = DocumentState(want);
    if (slot < 0 || slot >= from.batch) return Status::error("state slot out of range");
    for (int i = 0; i < cfg_.nLayer; ++i) {
        LayerState& L = to.layers()[size_t(i)];
        const Part parts[4] = {{from.angle[i] + slot * L.angle.size(), &L.angle},
                               {from.layer[i].ssm + slot * L.ssm.size(), &L.ssm},
                               {from.layer[i].k + slot * L.k.size(), &L.k},
                               {from.layer[i].v + slot * L.v.size(), &L.v}};
        for (const Part& p : parts)
            if (Status s = cudaCheck(cudaMemcpyAsync(p.host->data(), p.dev, p.host->size() * 4,
                                                     cudaMemcpyDeviceToHost, ctx_->stream()),
                                     "downloading a state");
                !s)
                return s;
    }
    to.setPosition(from.position[size_t(slot)]);
    return cudaCheck(cudaStreamSynchronize(ctx_->stream()), "downloading a state");
}

}  // namespace lectern::cuda
