// State files: encoding, the checks of decoding in the order that gives the most useful
// message (size, magic, version, header checksum, model identity, dtype, shapes, payload
// size, block checksums), and Session::restore.
#include "io/state_file.h"

#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/byte_source.h"
#include "io/zip_reader.h"
#include "model/model_impl.h"

namespace lectern::io {
namespace {

static_assert(std::endian::native == std::endian::little, "state files are little-endian");
constexpr char kMagic[8] = {'L', 'E', 'C', 'T', 'S', 'T', 'A', 'T'};
constexpr uint32_t kDtypeF32 = 1;

template <typename T>
void put(std::string& out, T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
template <typename T>
T get(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

std::string describe(const StateShape& s) {
    return std::to_string(s.nLayer) + " layers, H " + std::to_string(s.H) + ", P " +
           std::to_string(s.P) + ", N " + std::to_string(s.N) + ", R " + std::to_string(s.R) +
           ", A " + std::to_string(s.A);
}

uint64_t stateFloats(const StateShape& s) {  // s is the model's: small, no overflow
    return uint64_t(s.nLayer) * (uint64_t(s.H) * s.A + uint64_t(s.H) * s.P * s.N +
                                 uint64_t(s.R) * s.H * s.N + uint64_t(s.H) * s.P);
}

uint64_t blocks(uint64_t payload) {
    return (payload + kStateBlockBytes - 1) / kStateBlockBytes;
}

// The fixed header: everything but the payload. Sets position and the logits count.
Status checkHeader(std::span<const uint8_t> b, const std::string& name, const StateExpectation& ex,
                   int64_t& position, uint32_t& nLogits) {
    const std::string where = "state " + name;
    auto fail = [&](const std::string& m) { return Status::error(where + " " + m); };
    if (b.size() < kStateHeaderBytes)
        return fail("is truncated: " + std::to_string(b.size()) + " bytes, less than the " +
                    std::to_string(kStateHeaderBytes) + "-byte header");
    if (std::memcmp(b.data(), kMagic, sizeof kMagic) != 0)
        return fail("is not a Lectern document state (bad magic)");
    if (uint32_t v = get<uint32_t>(&b[8]); v != kStateFormatVersion)
        return fail("has format version " + std::to_string(v) + "; this build reads version " +
                    std::to_string(kStateFormatVersion));
    if (get<uint32_t>(&b[72]) != crc32Update(0, b.data(), 72))
        return fail("is damaged at offset 0 (header checksum mismatch)");
    if (uint64_t id = get<uint64_t>(&b[16]); id != ex.identity)
        return fail("was made by model " + hex(id) + ", not by this model (" + hex(ex.identity) +
                    ")");
    if (uint32_t d = get<uint32_t>(&b[12]); d != kDtypeF32)
        return fail("has dtype code " + std::to_string(d) + "; only 1 (fp32) is known");
    position = get<int64_t>(&b[24]);
    if (position < 0) return fail("has a negative token position");
    uint32_t dims[6];
    std::memcpy(dims, &b[32], sizeof dims);
    StateShape fileShape;
    int* fields[6] = {&fileShape.nLayer, &fileShape.H, &fileShape.P,
                      &fileShape.N,      &fileShape.R, &fileShape.A};
    for (int i = 0; i < 6; ++i) *fields[i] = dims[i] > 1u << 30 ? -1 : int(dims[i]);
    if (!(fileShape == ex.shape))
        return fail("has shapes (" + describe(fileShape) + ") that differ from the model's (" +
                    describe(ex.shape) + ")");
    nLogits = get<uint32_t>(&b[56]);
    if (nLogits != 0 && nLogits != uint32_t(ex.vocabPadded))
        return fail("holds " + std::to_string(nLogits) + " logits; the model has " +
                    std::to_string(ex.vocabPadded));
    if (get<uint32_t>(&b[60]) != kStateBlockBytes)
        return fail("has an unknown checksum block size");
    return Status::ok();
}

}  // namespace

StateExpectation stateExpectation(const Model& model) {
    return {model.identityHash(), model.newState().shape(), model.info().vocabPadded};
}

std::string stateEncode(const DocumentState& st, std::span<const float> logits, uint64_t identity) {
    const StateShape& s = st.shape();
    std::string out(kMagic, sizeof kMagic);
    put(out, kStateFormatVersion);
    put(out, kDtypeF32);
    put(out, identity);
    put(out, int64_t(st.position()));
    for (int d : {s.nLayer, s.H, s.P, s.N, s.R, s.A}) put(out, uint32_t(d));
    put(out, uint32_t(logits.size()));
    put(out, uint32_t(kStateBlockBytes));
    const uint64_t payload = (stateFloats(s) + logits.size()) * sizeof(float);
    put(out, payload);
    put(out, crc32Update(0, reinterpret_cast<const uint8_t*>(out.data()), out.size()));
    const size_t start = out.size();
    for (const LayerState& L : st.layers())
        for (const auto* v : {&L.angle, &L.ssm, &L.k, &L.v})
            out.append(reinterpret_cast<const char*>(v->data()), v->size() * sizeof(float));
    out.append(reinterpret_cast<const char*>(logits.data()), logits.size() * sizeof(float));
    for (uint64_t b = 0; b < blocks(payload); ++b) {
        const uint64_t off = b * kStateBlockBytes;
        const size_t n = size_t(std::min<uint64_t>(kStateBlockBytes, payload - off));
        put(out, crc32Update(0, reinterpret_cast<const uint8_t*>(out.data()) + start + off, n));
    }
    return out;
}

Expected<LoadedState> stateDecode(std::span<const uint8_t> b, const std::string& name,
                                  const StateExpectation& ex) {
    int64_t position = 0;
    uint32_t nLogits = 0;
    if (Status s = checkHeader(b, name, ex, position, nLogits); !s) return s;
    auto fail = [&](const std::string& m) { return Status::error("state " + name + " " + m); };
    const uint64_t payload = (stateFloats(ex.shape) + nLogits) * sizeof(float);
    if (get<uint64_t>(&b[64]) != payload)
        return fail("declares a payload of " + std::to_string(get<uint64_t>(&b[64])) +
                    " bytes; its shapes need " + std::to_string(payload));
    const uint64_t total = kStateHeaderBytes + payload + 4 * blocks(payload);
    if (b.size() != total)
        return fail(std::string(b.size() < total ? "is truncated" : "has trailing bytes") + ": " +
                    std::to_string(b.size()) + " bytes, expected " + std::to_string(total));
    const uint8_t* data = b.data() + kStateHeaderBytes;
    for (uint64_t k = 0; k < blocks(payload); ++k) {
        const uint64_t off = k * kStateBlockBytes;
        const size_t n = size_t(std::min<uint64_t>(kStateBlockBytes, payload - off));
        if (crc32Update(0, data + off, n) != get<uint32_t>(data + payload + 4 * k))
            return fail("is damaged at offset " + std::to_string(kStateHeaderBytes + off) +
                        " (checksum mismatch in the " + std::to_string(n) + "-byte block there)");
    }
    LoadedState out{DocumentState(ex.shape), {}};
    out.state.setPosition(position);
    size_t at = 0;
    for (LayerState& L : out.state.layers())
        for (auto* v : {&L.angle, &L.ssm, &L.k, &L.v}) {
            std::memcpy(v->data(), data + at, v->size() * sizeof(float));
            at += v->size() * sizeof(float);
        }
    out.lastLogits.resize(nLogits);
    std::memcpy(out.lastLogits.data(), data + at, size_t(nLogits) * sizeof(float));
    return out;
}

Status stateSave(const std::string& path, const Model& model, const Session& session) {
    return writeFileAtomic(
        path, stateEncode(session.state(), session.lastLogits(), model.identityHash()));
}

Status stateLoad(const std::string& path, const Model& model, Session& session) {
    const StateExpectation ex = stateExpectation(model);
    // The largest file this model can have: refuse anything bigger before reading it.
    const uint64_t payload = (stateFloats(ex.shape) + uint64_t(ex.vocabPadded)) * sizeof(float);
    const uint64_t maxBytes = kStateHeaderBytes + payload + 4 * blocks(payload);
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(path, ec);
    if (ec) return Status::error("state " + path + ": cannot read: " + ec.message());
    if (size > maxBytes)
        return Status::error("state " + path + " is " + std::to_string(size) +
                             " bytes, more than any state of this model (" +
                             std::to_string(maxBytes) + ")");
    std::ifstream in(path, std::ios::binary);
    std::vector<uint8_t> bytes(size_t(size), 0);
    if (!in || !in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(size)))
        return Status::error("state " + path + ": cannot read the file");
    auto loaded = stateDecode(bytes, path, ex);
    if (!loaded) return loaded.status();
    return session.restore(std::move(loaded->state), std::move(loaded->lastLogits));
}

}  // namespace lectern::io

namespace lectern {

Status Session::restore(DocumentState state, std::vector<float> lastLogits) {
    if (!(state.shape() == model_->stateShape()))
        return Status::error("restore: the state's shapes are not this model's");
    if (!lastLogits.empty() && lastLogits.size() != size_t(model_->cfg.vocabPadded()))
        return Status::error("restore: the logits' size is not this model's padded vocabulary");
    if (state.layers().size() != size_t(state.shape().nLayer))
        return Status::error("restore: the state has no layers allocated");
    state_ = std::move(state);
    lastLogits_ = std::move(lastLogits);
    if (scratch_) {  // the host copies are now the newest: a GPU session uploads them next
        scratch_->deviceValid = false;
        scratch_->hostStateValid = scratch_->hostLogitsValid = true;
    }
    return Status::ok();
}

}  // namespace lectern
