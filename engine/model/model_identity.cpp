// Model::identityHash: a 64-bit hash of the configuration and every fp32 weight, so that a
// saved document state can name the model that made it (engine/io/state_file.h). The same
// weights read from model.safetensors or pytorch_model.bin give the same identity.
#include <cstring>

#include "model/model_impl.h"

namespace lectern::detail {
namespace {

// FNV-1a over 64-bit words with a final avalanche: fast enough to run over every weight at
// load (a few hundred MB/s), and any changed bit changes the result.
struct Hasher {
    uint64_t h = 0xcbf29ce484222325ull;
    void word(uint64_t w) {
        h ^= w;
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    void floats(const std::vector<float>& v) {
        word(v.size());
        size_t i = 0;
        for (; i + 2 <= v.size(); i += 2) {
            uint64_t w;
            std::memcpy(&w, &v[i], 8);
            word(w);
        }
        if (i < v.size()) {
            uint32_t w;
            std::memcpy(&w, &v[i], 4);
            word(w);
        }
    }
    uint64_t final() const {
        uint64_t x = h;
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 33;
        return x;
    }
};

}  // namespace

uint64_t modelIdentity(const model::ModelConfig& c, const model::ModelWeights& w) {
    Hasher h;
    for (int64_t v : {int64_t(c.dModel), int64_t(c.dIntermediate), int64_t(c.nLayer),
                      int64_t(c.vocabSize), int64_t(c.vocabPadded()), int64_t(c.ssm.dState),
                      int64_t(c.ssm.expand), int64_t(c.ssm.headdim), int64_t(c.ssm.ngroups),
                      int64_t(c.rank()), int64_t(c.numRopeAngles()), int64_t(c.ssm.isOutprojNorm),
                      int64_t(c.ssm.fusePregateHeadwiseNorm), int64_t(c.tieEmbeddings)})
        h.word(uint64_t(v));
    for (double d : {c.ssm.aFloor, double(c.normEps)}) {
        uint64_t b;
        std::memcpy(&b, &d, 8);
        h.word(b);
    }
    h.floats(w.embedding);
    h.floats(w.normF);
    h.floats(w.lmHead);
    for (const model::LayerWeights& L : w.layers) {
        for (const auto* v :
             {&L.norm, &L.inProj, &L.dtBias, &L.bBias, &L.cBias, &L.bNorm, &L.cNorm, &L.D, &L.mimoX,
              &L.mimoZ, &L.mimoO, &L.outNorm, &L.outProj, &L.norm2, &L.fc1, &L.fc2})
            h.floats(*v);
    }
    return h.final();
}

}  // namespace lectern::detail

namespace lectern {

uint64_t Model::identityHash() const {
    return impl_->identity;
}

}  // namespace lectern
