// Model::load and Session: the public API over ModelImpl. Long prefills are cut into
// pieces (a multiple of the chunk size, so chunk boundaries do not move) to bound scratch
// memory and to check for cancellation. The BLAS projections may round differently for
// other row counts, so pieces of another size agree within ~1e-7, not bit for bit.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <new>

#include "io/safetensors.h"
#include "io/torch_zip_reader.h"
#include "model/model_impl.h"
#include "model/surprisal.h"

namespace lectern {
namespace {

constexpr int64_t kPieceTokens = 2048;
constexpr int64_t kSurprisalScratchBytes = int64_t(64) << 20;

ModelInfo makeInfo(const model::ModelConfig& c) {
    ModelInfo i;
    i.architecture = c.ssm.isMimo ? "Mamba-3 MIMO (rank " + std::to_string(c.ssm.mimoRank) + ")"
                                  : std::string("Mamba-3 SISO");
    i.dModel = c.dModel;
    i.nLayer = c.nLayer;
    i.vocabSize = c.vocabSize;
    i.vocabPadded = c.vocabPadded();
    i.dIntermediate = c.dIntermediate;
    i.dState = c.ssm.dState;
    i.headdim = c.ssm.headdim;
    i.nHeads = c.nHeads();
    i.ngroups = c.ssm.ngroups;
    i.mimoRank = c.rank();
    i.ropeAngles = c.numRopeAngles();
    i.chunkSize = c.ssm.chunkSize;
    i.outprojNorm = c.ssm.isOutprojNorm;
    i.tiedEmbeddings = c.tieEmbeddings;
    i.parameterCount = c.parameterCount();
    i.stateBytes = int64_t(c.nLayer) * c.stateFloatsPerLayer() * int64_t(sizeof(float));
    return i;
}

Status checkTokens(std::span<const int32_t> tokens, int vocabPadded, int64_t position) {
    for (size_t t = 0; t < tokens.size(); ++t) {
        if (tokens[t] < 0 || tokens[t] >= vocabPadded) {
            return Status::error("token id " + std::to_string(tokens[t]) + " at position " +
                                 std::to_string(position + int64_t(t)) +
                                 " is outside the vocabulary [0, " + std::to_string(vocabPadded) +
                                 ")");
        }
    }
    return Status::ok();
}

// The weights file of a model folder: model.safetensors, else the sharded index, else the
// official pytorch_model.bin. `path` may also name one of those files directly.
Expected<std::pair<io::TensorMap, std::string>> readWeights(const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    fs::path file = path;
    if (fs::is_directory(path)) {
        file = path / "model.safetensors";
        for (const char* name :
             {"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"}) {
            if (fs::exists(path / name)) {
                file = path / name;
                break;
            }
        }
    }
    if (file.extension() == ".bin") {
        auto t = io::torchReadStateDict(file.string());
        if (!t) return t.status();
        return std::make_pair(std::move(*t), file.string());
    }
    auto f = io::safetensorsReadModel(file.string());
    if (!f) return f.status();
    return std::make_pair(std::move(f->tensors), file.string());
}

}  // namespace

Expected<Model> Model::load(const std::string& path, DeviceKind device) {
    return load(path, LoadOptions{device, GpuPrecision::Bf16});
}

Expected<Model> Model::load(const std::string& path, const LoadOptions& options) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::is_directory(path) ? fs::path(path) : fs::path(path).parent_path();
    auto cfg = model::configLoad((dir / "config.json").string());
    if (!cfg) return cfg.status();
    auto weights = readWeights(path);
    if (!weights) return weights.status();
    auto w = model::weightsFromTensors(*cfg, weights->first, weights->second);
    if (!w) return w.status();
    auto impl = std::make_shared<detail::ModelImpl>();
    impl->cfg = *cfg;
    impl->w = std::move(*w);
    impl->info = makeInfo(impl->cfg);
    impl->identity = detail::modelIdentity(impl->cfg, impl->w);
    if (Status s = detail::attachDevice(*impl, options.device, options.gpuPrecision); !s)
        return s;  // issue 4
    Model m;
    m.impl_ = std::move(impl);
    return m;
}

const ModelInfo& Model::info() const {
    return impl_->info;
}

DocumentState Model::newState() const {
    return DocumentState(impl_->stateShape());
}

Session::Session(const Model& model)
    : model_(model.impl_),
      state_(model.newState()),
      scratch_(std::make_unique<detail::SessionScratch>()) {}

Session::Session(const Session& o)
    : model_(o.model_), scratch_(std::make_unique<detail::SessionScratch>()) {
    copyFrom(o);
}

Session& Session::operator=(const Session& o) {
    if (this != &o) {
        if (model_ != o.model_ || !scratch_) scratch_ = std::make_unique<detail::SessionScratch>();
        model_ = o.model_;
        copyFrom(o);
    }
    return *this;
}

// A GPU session whose newest state is on the device is copied device to device (fork);
// otherwise (CPU, or the copy failed) through the host copies as before.
void Session::copyFrom(const Session& o) {
    detail::SessionScratch& s = *scratch_;
    if (model_ && o.scratch_ && model_->copyDevice(*o.scratch_, s)) {
        state_ = o.state_;  // current position; the data is refreshed when next read
        lastLogits_ = o.lastLogits_;
        return;
    }
    o.syncHost(true);
    state_ = o.state_;
    lastLogits_ = o.lastLogits_;
    s.deviceValid = false;
    s.hostStateValid = s.hostLogitsValid = true;
}

Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

void Session::syncHost(bool logits) const {
    if (!scratch_ || !model_) return;  // moved from
    if (Status st = model_->syncHost(*scratch_, state_, lastLogits_, logits); !st)
        std::fprintf(stderr, "lectern: reading a session's state from the GPU: %s\n",
                     st.message().c_str());
}

std::span<const float> Session::lastLogits() const {
    syncHost(true);
    return lastLogits_;
}

int32_t Session::argmaxLogits(int n) const {
    int32_t id = -1;
    if (scratch_ && model_ && model_->deviceArgmax(*scratch_, n, id)) return id;
    const std::span<const float> v = lastLogits();
    const size_t m = std::min(v.size(), size_t(std::max(n, 0)));
    if (m == 0) return -1;
    // The scan of generate::Sampler's greedy choice (first of equal maxima; NaN never wins).
    size_t best = 0;
    for (size_t i = 1; i < m; ++i)
        if (v[i] > v[best]) best = i;
    return int32_t(best);
}

int32_t Session::sampleOnDevice(int n, float temperature, int topK, float topP, float minP,
                                double u) const {
    int32_t id = -1;
    if (scratch_ && model_ &&
        model_->deviceSample(*scratch_, n, temperature, topK, topP, minP, u, id))
        return id;
    return -1;
}

const DocumentState& Session::state() const {
    syncHost(false);
    return state_;
}

DocumentState& Session::state() {
    syncHost(true);
    if (scratch_) scratch_->deviceValid = false;  // the caller may change the host copy
    return state_;
}

Status Session::prefill(std::span<const int32_t> tokens, const PrefillOptions& opt) {
    const model::ModelConfig& c = model_->cfg;
    if (Status st = checkTokens(tokens, c.vocabPadded(), position()); !st) return st;
    const int64_t V = c.vocabPadded(), total = int64_t(tokens.size());
    const int64_t C = c.ssm.chunkSize;
    // Surprisal needs every row of logits; without allLogits they go to a scratch buffer of
    // at most kSurprisalScratchBytes per piece (still chunk multiples; other piece sizes
    // round the CPU GEMMs differently, so the state matches within rounding, not bit for bit).
    int64_t pieceTokens = kPieceTokens;
    if (opt.surprisalBits && !opt.allLogits)
        pieceTokens = std::min<int64_t>(pieceTokens, kSurprisalScratchBytes / (V * 4));
    const int64_t piece = std::max<int64_t>(C, pieceTokens / C * C);
    std::vector<float> scratchLogits, before;
    if (total > 0) lastLogits_.resize(size_t(V));
    for (int64_t t0 = 0; t0 < total; t0 += piece) {
        if (opt.cancel && opt.cancel->load()) {
            return Status::error("prefill cancelled after " + std::to_string(t0) + " of " +
                                 std::to_string(total) + " tokens");
        }
        const int64_t T = std::min(piece, total - t0);
        float* all = nullptr;
        // Every allocation of the piece happens here, before the state changes, so running
        // out of memory costs this call, not the state (RELIABILITY MEM-1).
        try {
            if (!model_->onGpu()) model_->reserveScratch(*scratch_, T);
            if (opt.allLogits) {
                opt.allLogits->resize(opt.allLogits->size() + size_t(T * V));
                all = opt.allLogits->data() + opt.allLogits->size() - size_t(T * V);
            } else if (opt.surprisalBits) {
                scratchLogits.resize(size_t(T * V));
                all = scratchLogits.data();
            }
        } catch (const std::bad_alloc&) {
            const int64_t need = (model_->onGpu() ? 0 : model_->scratchBytes(T)) +
                                 ((opt.allLogits || opt.surprisalBits) ? T * V * 4 : 0);
            return Status::error(
                "out of memory (needed ~" + std::to_string(std::max<int64_t>(1, need >> 20)) +
                " MiB for a piece of " + std::to_string(T) +
                " tokens); the state is unchanged at token " + std::to_string(position()));
        }
        // The logits that predict this piece's first token: none for an empty state.
        if (opt.surprisalBits) {
            syncHost(true);
            before.assign(lastLogits_.begin(), lastLogits_.end());
        }
        if (opt.surprisalBits && state_.position() == 0) before.clear();
        std::vector<std::vector<float>> pieceHidden;
        try {
            if (Status s =
                    model_->runSession(state_, lastLogits_, tokens.data() + t0, T, opt.form,
                                       *scratch_, all, opt.hiddenStates ? &pieceHidden : nullptr);
                !s)
                return s;
        } catch (const std::bad_alloc&) {
            // Past the reservation (hidden states, a backend's own buffers): some layers
            // may hold part of the piece, so the state cannot be trusted any more.
            state_.reset();
            lastLogits_.clear();
            return Status::error("out of memory during a piece of " + std::to_string(T) +
                                 " tokens; the session's state is reset to empty");
        }
        if (opt.surprisalBits) {
            auto& out = *opt.surprisalBits;
            out.resize(out.size() + size_t(T));
            detail::surprisal_append(tokens.subspan(size_t(t0), size_t(T)), before, all, V,
                                     c.vocabSize, out.data() + out.size() - size_t(T));
        }
        if (opt.hiddenStates) {
            auto& h = *opt.hiddenStates;
            if (h.size() < pieceHidden.size()) h.resize(pieceHidden.size());
            for (size_t i = 0; i < pieceHidden.size(); ++i)
                h[i].insert(h[i].end(), pieceHidden[i].begin(), pieceHidden[i].end());
        }
        if (opt.progress) opt.progress(t0 + T, total);
    }
    return Status::ok();
}

Status Session::step(int32_t token) {
    const int32_t one[1] = {token};
    if (Status st = checkTokens(one, model_->cfg.vocabPadded(), position()); !st) return st;
    lastLogits_.resize(size_t(model_->cfg.vocabPadded()));
    return model_->runSession(state_, lastLogits_, one, 1, ScanForm::Recurrent, *scratch_, nullptr,
                              nullptr);
}

}  // namespace lectern
