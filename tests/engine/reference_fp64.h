// RELIABILITY NUM-2's reference: the Mamba-3 model in double precision, one token at a
// time, written from the recurrence in ops/ssm_scan_common.h and the ops' documented maths
// (not from the engines' code), so that the drift of the fp32 CPU and the CUDA engines over
// a long document can be measured against it. SISO and MIMO, no MLP; only the state is kept
// (no logits): what a long prefill leaves behind.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lectern/document_state.h"
#include "lectern/status.h"
#include "model/config.h"
#include "model/weights.h"

namespace lectern::test {

class ReferenceFp64 {
public:
    // config.json and the weights of the model folder `dir`; an error for a model with an MLP.
    // bf16Projections: in_proj and out_proj and their inputs rounded to bf16, as the GPU's
    // bf16 mode multiplies them (fp32 sums): the roundings that mode cannot avoid, the rest
    // exact. Without the inputs' rounding, a small vocabulary's embeddings round the same
    // way every time they recur and the angles drift apart systematically.
    static Expected<ReferenceFp64> load(const std::string& dir, bool bf16Projections = false);

    // Reads tokens after whatever the state holds.
    void read(const int32_t* ids, int64_t T);
    int64_t position() const { return position_; }
    // The state rounded to fp32, in DocumentState's layout (for the comparisons).
    void copyTo(DocumentState& out) const;

private:
    struct Layer {
        std::vector<double> angle, ssm, k, v;  // [H, A], [H, P, N], [R, H, N], [H, P]
    };
    void layer(int i, std::vector<double>& normed, std::vector<double>& out);
    // The input of a projection: rounded to bf16 in bf16 mode.
    void projectionInput(std::vector<double>& v) const;

    model::ModelConfig cfg_;
    model::ModelWeights w_;
    std::vector<Layer> layers_;
    int64_t position_ = 0;
    bool bf16_ = false;
};

}  // namespace lectern::test
