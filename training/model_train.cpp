// The whole model for training (training/model_train.h): embedding, blocks of fused
// add + RMSNorm, mixer and optional gated MLP, final norm, LM head; and the backward, in
// which one running gradient dr of the residual stream flows down: each sub-block's output
// gradient is dr (the add passes it through), and its norm's input gradient adds to dr.
#include "training/model_train.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>

#include "ops/add_rmsnorm.h"
#include "ops/embedding.h"
#include "ops/gated_mlp.h"
#include "ops/lm_head.h"
#include "training/backward/backward_ops.h"
#include "training/loss.h"
#include "training/params.h"

namespace lectern::train {

void train_forward(const model::ModelConfig& cfg, const model::ModelWeights& w, const int32_t* ids,
                   int64_t T, Activations& a, bool save) {
    const int64_t D = cfg.dModel, V = cfg.vocabPadded(), F = cfg.mlpHidden();
    const float eps = cfg.normEps;
    // Kept between calls on each thread: fresh megabyte buffers per row cost page faults,
    // and their release unmaps pages on every core of the process (the rows run on many
    // threads), which stopped the row-parallel trainer from scaling past a few threads.
    thread_local std::vector<float> r, normed, delta, scratch;
    r.resize(size_t(T * D)), normed.resize(size_t(T * D)), delta.resize(size_t(T * D));
    scratch.resize(size_t(F > 0 ? T * 2 * F : 0));
    cpu::embedding_forward(r.data(), ids, T, w.embedding.data(), D);
    a.layers.resize(size_t(cfg.nLayer));
    const float* pending = nullptr;
    for (int i = 0; i < cfg.nLayer; ++i) {
        const model::LayerWeights& L = w.layers[size_t(i)];
        LayerActivations& la = a.layers[size_t(i)];
        cpu::add_rmsnorm_forward(normed.data(), r.data(), pending, L.norm.data(), T, D, eps);
        la.resid = r;
        la.normed = normed;
        mixer_train_forward(cfg, L, la.normed.data(), T, la.mixer, delta.data(), save);
        if (F > 0) {
            cpu::add_rmsnorm_forward(normed.data(), r.data(), delta.data(), L.norm2.data(), T, D,
                                     eps);
            la.resid2 = r;
            la.normed2 = normed;
            cpu::gated_mlp_forward(delta.data(), la.normed2.data(), L.fc1.data(), L.fc2.data(),
                                   scratch.data(), T, D, F);
        }
        pending = delta.data();
    }
    cpu::add_rmsnorm_forward(normed.data(), r.data(), pending, w.normF.data(), T, D, eps);
    a.residF = r;  // copies into a's kept capacity
    a.normedF = normed;
    a.logits.resize(size_t(T * V));
    cpu::lm_head_forward(a.logits.data(), a.normedF.data(), w.lmHeadData(), T, D, V);
}

void train_backward(const model::ModelConfig& cfg, const model::ModelWeights& w, const int32_t* ids,
                    int64_t T, const Activations& a, const float* dlogits,
                    model::ModelWeights& grads) {
    const int64_t D = cfg.dModel, V = cfg.vocabPadded(), F = cfg.mlpHidden();
    const float eps = cfg.normEps;
    thread_local std::vector<float> dnormed, dr;  // kept between calls (train_forward says why)
    dnormed.assign(size_t(T * D), 0.0f), dr.assign(size_t(T * D), 0.0f);
    float* dHead = cfg.tieEmbeddings ? grads.embedding.data() : grads.lmHead.data();
    linear_backward(dnormed.data(), dHead, dlogits, a.normedF.data(), w.lmHeadData(), T, D, V);
    rmsnorm_backward(dr.data(), grads.normF.data(), dnormed.data(), a.residF.data(), w.normF.data(),
                     T, D, eps);
    for (int i = cfg.nLayer - 1; i >= 0; --i) {
        const model::LayerWeights& L = w.layers[size_t(i)];
        model::LayerWeights& G = grads.layers[size_t(i)];
        const LayerActivations& la = a.layers[size_t(i)];
        if (F > 0) {
            std::fill(dnormed.begin(), dnormed.end(), 0.0f);
            gated_mlp_backward(dnormed.data(), G.fc1.data(), G.fc2.data(), dr.data(),
                               la.normed2.data(), L.fc1.data(), L.fc2.data(), T, D, F);
            rmsnorm_backward(dr.data(), G.norm2.data(), dnormed.data(), la.resid2.data(),
                             L.norm2.data(), T, D, eps);
        }
        std::fill(dnormed.begin(), dnormed.end(), 0.0f);
        mixer_backward(cfg, L, la.mixer, la.normed.data(), T, dr.data(), dnormed.data(), G);
        rmsnorm_backward(dr.data(), G.norm.data(), dnormed.data(), la.resid.data(), L.norm.data(),
                         T, D, eps);
    }
    embedding_backward(grads.embedding.data(), dr.data(), ids, T, D);
}

namespace {

// One row's loss and, with g, the gradient of gradScale × its loss sum into g (zeroed first).
double rowLossAndGrads(const model::ModelConfig& cfg, const model::ModelWeights& w,
                       const int32_t* row, int64_t L, model::ModelWeights* g, double gradScale,
                       Activations& a, std::vector<float>& dlogits, const float* rowWeights) {
    const int64_t V = cfg.vocabPadded();
    train_forward(cfg, w, row, L, a, g != nullptr);
    if (g != nullptr) dlogits.resize(size_t(L * V));
    const double loss = cross_entropy_forward_backward(a.logits.data(), row, L, V, gradScale,
                                                       g ? dlogits.data() : nullptr, rowWeights);
    if (g != nullptr) {
        zero_grad(cfg, *g);
        train_backward(cfg, w, row, L, a, dlogits.data(), *g);
    }
    return loss;
}

void addGrads(const model::ModelConfig& cfg, model::ModelWeights& into, model::ModelWeights& row) {
    std::vector<NamedTensor> dst = namedParams(cfg, into), src = namedParams(cfg, row);
    for (size_t i = 0; i < dst.size(); ++i) {
        float* d = dst[i].data->data();
        const float* s = src[i].data->data();
        const size_t n = dst[i].data->size();
        for (size_t j = 0; j < n; ++j) d[j] += s[j];
    }
}

// OpenBLAS runs one thread per call while the rows run in parallel (its own threads on top
// of ours would oversubscribe the cores), and its previous setting afterwards.
struct BlasSingleThreaded {
    int before = openblas_get_num_threads();
    BlasSingleThreaded() { openblas_set_num_threads(1); }
    ~BlasSingleThreaded() { openblas_set_num_threads(before); }
    BlasSingleThreaded(const BlasSingleThreaded&) = delete;
    BlasSingleThreaded& operator=(const BlasSingleThreaded&) = delete;
};

}  // namespace

// Rows are independent documents, so they run on OpenMP threads, each with its own
// activations and gradient buffer. Every row's gradient is computed into a zeroed buffer and
// added to `grads` in row order (the ordered block), so the result is the same bit for bit
// for any number of threads: a resumed run need not have the cores of the first.
double loss_and_grads(const model::ModelConfig& cfg, const model::ModelWeights& w,
                      const int32_t* ids, int64_t B, int64_t L, model::ModelWeights* grads,
                      double gradScale, Activations* ws, const float* rowWeights) {
    const int threads = int(std::min<int64_t>(B, omp_get_max_threads()));
    double total = 0.0;
    if (threads <= 1) {  // BLAS keeps its own threads
        Activations local;
        Activations& a = ws ? *ws : local;
        std::vector<float> dlogits;
        model::ModelWeights rowGrad = grads ? zerosLike(cfg) : model::ModelWeights{};
        for (int64_t b = 0; b < B; ++b) {
            total += rowLossAndGrads(cfg, w, ids + b * L, L, grads ? &rowGrad : nullptr, gradScale,
                                     a, dlogits, rowWeights ? rowWeights + b * L : nullptr);
            if (grads != nullptr) addGrads(cfg, *grads, rowGrad);
        }
        return total;
    }
    const BlasSingleThreaded blas;
#pragma omp parallel num_threads(threads)
    {
        // Kept between calls (the OpenMP threads persist), so a training loop allocates once.
        thread_local Activations a;
        thread_local std::vector<float> dlogits;
        // Per call: a test may run models of several shapes in one process.
        model::ModelWeights rowGrad = grads ? zerosLike(cfg) : model::ModelWeights{};
#pragma omp for ordered schedule(static, 1)
        for (int64_t b = 0; b < B; ++b) {
            const double loss =
                rowLossAndGrads(cfg, w, ids + b * L, L, grads ? &rowGrad : nullptr, gradScale, a,
                                dlogits, rowWeights ? rowWeights + b * L : nullptr);
#pragma omp ordered
            {
                total += loss;
                if (grads != nullptr) addGrads(cfg, *grads, rowGrad);
            }
        }
    }
    return total;
}

}  // namespace lectern::train
