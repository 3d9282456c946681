// A document's recurrent state: per layer the official Mamba-3 inference cache (angle,
// ssm, k, v; batch 1) plus the number of tokens read. Fixed size whatever the document's
// length. Plain data: copy it to fork, hand it to a state file to save.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lectern {

struct StateShape {
    int nLayer = 0;
    int H = 0, P = 0, N = 0, R = 1, A = 0;  // heads, headdim, d_state, MIMO rank, angles
    bool operator==(const StateShape&) const = default;
};

struct LayerState {
    std::vector<float> angle;  // [H, A]     Σ tanh(angle)·π·dt, kept in [0, 2π)
    std::vector<float> ssm;    // [H, P, N]
    std::vector<float> k;      // [R, H, N]  last token's rotated B (+ bias)
    std::vector<float> v;      // [H, P]     last token's x
};

class DocumentState {
public:
    DocumentState() = default;
    explicit DocumentState(const StateShape& shape);  // zeros, position 0

    const StateShape& shape() const { return shape_; }
    int64_t position() const { return position_; }
    void setPosition(int64_t p) { position_ = p; }
    std::vector<LayerState>& layers() { return layers_; }
    const std::vector<LayerState>& layers() const { return layers_; }

    DocumentState fork() const { return *this; }  // an independent copy
    void reset();                                 // back to zeros, position 0
    size_t sizeBytes() const;                     // payload bytes (fp32)
    // Tensor name as in ../shared/golden ("layers.{i}.angle_state", ...) and its shape with
    // a leading batch dimension of 1.
    static std::string tensorName(int layer, int which);  // which: 0 angle 1 ssm 2 k 3 v
    std::vector<int64_t> tensorShape(int which) const;

private:
    StateShape shape_;
    std::vector<LayerState> layers_;
    int64_t position_ = 0;
};

}  // namespace lectern
