// computeGradsCuda (model_train_cuda.h): `lectern-cli grads --device cuda`, the golden
// layout of computeGrads (model_io.cpp) from the GPU's loss and gradients.
#include "training/cuda/model_train_cuda.h"
#include "training/params.h"

namespace lectern::train {

Expected<GradsResult> computeGradsCuda(TrainModel& m, const std::vector<int32_t>& ids, int64_t B,
                                       int64_t L) {
    if (B < 1 || L < 2 || int64_t(ids.size()) != B * L)
        return Status::error("need input_ids of at least 1 x 2 tokens");
    auto gpu = CudaTrainModel::create(m.cfg, m.w, AdamWState{}, B, L, 0, false);  // grads only
    if (!gpu) return gpu.status();
    const double count = double(B) * double(L - 1);
    if (Status st = (*gpu)->zeroGrads(); !st) return st;
    auto sum = (*gpu)->lossAndGrads(ids.data(), B, L, 1.0 / count);
    if (!sum) return sum.status();
    model::ModelWeights g;
    if (Status st = (*gpu)->downloadGrads(g); !st) return st;
    return goldenGrads(m.cfg, g, *sum / count);
}

}  // namespace lectern::train
