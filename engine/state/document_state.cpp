// DocumentState: allocation, reset, size and the official tensor names and shapes.
#include "lectern/document_state.h"

#include <algorithm>

namespace lectern {

DocumentState::DocumentState(const StateShape& s) : shape_(s) {
    layers_.resize(size_t(s.nLayer));
    for (LayerState& L : layers_) {
        L.angle.assign(size_t(s.H) * s.A, 0.0f);
        L.ssm.assign(size_t(s.H) * s.P * s.N, 0.0f);
        L.k.assign(size_t(s.R) * s.H * s.N, 0.0f);
        L.v.assign(size_t(s.H) * s.P, 0.0f);
    }
}

void DocumentState::reset() {
    for (LayerState& L : layers_) {
        for (auto* v : {&L.angle, &L.ssm, &L.k, &L.v}) std::fill(v->begin(), v->end(), 0.0f);
    }
    position_ = 0;
}

size_t DocumentState::sizeBytes() const {
    size_t n = 0;
    for (const LayerState& L : layers_)
        n += L.angle.size() + L.ssm.size() + L.k.size() + L.v.size();
    return n * sizeof(float);
}

std::string DocumentState::tensorName(int layer, int which) {
    static const char* kinds[] = {"angle_state", "ssm_state", "k_state", "v_state"};
    return "layers." + std::to_string(layer) + "." + kinds[which & 3];
}

std::vector<int64_t> DocumentState::tensorShape(int which) const {
    const StateShape& s = shape_;
    switch (which) {
        case 0:
            return {1, s.H, s.A};
        case 1:
            return {1, s.H, s.P, s.N};
        case 2:
            return {1, s.R, s.H, s.N};
        default:
            return {1, s.H, s.P};
    }
}

}  // namespace lectern
