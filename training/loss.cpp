// Cross-entropy forward and backward (training/loss.h). Each row's log-sum-exp is taken in
// double around its maximum, so a large logit cannot overflow and the loss keeps ~1e-12
// relative accuracy (the golden loss is float64).
#include "training/loss.h"

#include <algorithm>
#include <cmath>

namespace lectern::train {

double cross_entropy_forward_backward(const float* logits, const int32_t* ids, int64_t T, int64_t V,
                                      double gradScale, float* dlogits, const float* rowWeights) {
    double total = 0.0;
    for (int64_t t = 0; t < T; ++t) {
        const float* row = logits + t * V;
        float* drow = dlogits ? dlogits + t * V : nullptr;
        if (t == T - 1) {
            if (drow) std::fill(drow, drow + V, 0.0f);
            break;
        }
        double mx = row[0];
        for (int64_t v = 1; v < V; ++v) mx = std::max(mx, double(row[v]));
        double sum = 0.0;
        for (int64_t v = 0; v < V; ++v) sum += std::exp(double(row[v]) - mx);
        const double lse = mx + std::log(sum);
        const int32_t target = ids[t + 1];
        total += lse - double(row[target]);
        if (drow) {
            const double scale = rowWeights ? gradScale * double(rowWeights[t]) : gradScale;
            for (int64_t v = 0; v < V; ++v) {
                const double prob = std::exp(double(row[v]) - lse);
                drow[v] = float(scale * (v == target ? prob - 1.0 : prob));
            }
        }
    }
    return total;
}

}  // namespace lectern::train
