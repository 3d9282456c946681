// Next-token cross-entropy, forward and backward in one pass (../shared/golden README,
// section Gradients): position t < T−1 predicts ids[t+1]; the log-sum-exp runs over all
// V_pad logits (padded rows count, nothing masked).
#pragma once

#include <cstdint>

namespace lectern::train {

// Returns Σ_{t<T−1} [logsumexp(logits[t]) − logits[t, ids[t+1]]] in double. If dlogits is
// non-null it is WRITTEN (the loss starts the backward): gradScale·(softmax − onehot) for
// t < T−1 and zeros for the last row. Token ids must lie in [0, V).
// rowWeights [T] (optional; nullptr: all 1, the plain path): row t's gradient is scaled by
// rowWeights[t] as well (--answer-weight, training/answer_weights.h). Only the GRADIENT is
// weighted: the returned loss stays the plain unweighted sum, so logs stay comparable.
double cross_entropy_forward_backward(const float* logits, const int32_t* ids, int64_t T, int64_t V,
                                      double gradScale, float* dlogits,
                                      const float* rowWeights = nullptr);

}  // namespace lectern::train
