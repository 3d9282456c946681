// Sampling: the masks of sampling.h over a probability vector in double precision (so that
// renormalising and the cumulative sums of top-p are exact enough for tests on hand-made
// logits), then one inverse-CDF draw.
#include "generate/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_set>

namespace lectern::generate {
namespace {

bool isGreedy(const SamplingOptions& o) {
    return o.greedy || o.temperature <= 0.0f;
}

void normalise(std::vector<double>& p) {
    const double sum = std::accumulate(p.begin(), p.end(), 0.0);
    if (sum > 0)
        for (double& x : p) x /= sum;
}

// Descending probability, ties by ascending id: a strict total order, so no sort needs to
// be stable and every platform keeps the same ids.
struct ByProbability {
    const std::vector<double>& p;
    bool operator()(int32_t a, int32_t b) const {
        return p[size_t(a)] != p[size_t(b)] ? p[size_t(a)] > p[size_t(b)] : a < b;
    }
};

// The ids still in the running (p > 0): after top-k only K of them, so top-p sorts few.
void candidates(const std::vector<double>& p, std::vector<int32_t>& ids) {
    ids.clear();
    for (size_t i = 0; i < p.size(); ++i)
        if (p[i] > 0.0) ids.push_back(int32_t(i));
}

void topK(std::vector<double>& p, int k, std::vector<int32_t>& order) {
    if (k <= 0 || size_t(k) >= p.size()) return;
    candidates(p, order);
    if (size_t(k) >= order.size()) return;
    std::nth_element(order.begin(), order.begin() + k, order.end(), ByProbability{p});
    for (size_t i = size_t(k); i < order.size(); ++i) p[size_t(order[i])] = 0.0;
    normalise(p);
}

void topP(std::vector<double>& p, float topP, std::vector<int32_t>& order) {
    if (topP >= 1.0f) return;
    candidates(p, order);
    // Sort only a prefix that already holds mass >= P, growing it until it does: the
    // nucleus is usually a few hundred ids of a vocabulary of tens of thousands.
    size_t k = std::min<size_t>(256, order.size());
    for (;;) {
        std::partial_sort(order.begin(), order.begin() + ptrdiff_t(k), order.end(),
                          ByProbability{p});
        double mass = 0.0;
        for (size_t i = 0; i < k; ++i) mass += p[size_t(order[i])];
        if (mass >= double(topP) || k == order.size()) break;
        k = std::min(order.size(), k * 4);
    }
    double cum = 0.0;
    size_t keep = 0;
    while (keep < k && (keep == 0 || cum < double(topP))) {
        cum += p[size_t(order[keep])];
        ++keep;
    }
    for (size_t i = keep; i < order.size(); ++i) p[size_t(order[i])] = 0.0;
    normalise(p);
}

void minP(std::vector<double>& p, float minP) {
    if (minP <= 0.0f) return;
    const double cut = double(minP) * *std::max_element(p.begin(), p.end());
    for (double& x : p)
        if (x < cut) x = 0.0;
    normalise(p);
}

size_t argmaxFirst(std::span<const float> v) {
    size_t best = 0;
    for (size_t i = 1; i < v.size(); ++i)
        if (v[i] > v[best]) best = i;
    return best;
}

}  // namespace

Status validate(const SamplingOptions& o) {
    if (!std::isfinite(o.temperature)) return Status::error("temperature must be a finite number");
    if (o.topK < 0) return Status::error("top-k must be >= 0 (0 turns it off)");
    if (!(o.topP > 0.0f && o.topP <= 1.0f)) return Status::error("top-p must be in (0, 1]");
    if (!(o.minP >= 0.0f && o.minP <= 1.0f)) return Status::error("min-p must be in [0, 1]");
    if (!(o.repetitionPenalty > 0.0f && std::isfinite(o.repetitionPenalty)))
        return Status::error("repetition penalty must be a positive number (1 turns it off)");
    return Status::ok();
}

void applyRepetitionPenalty(std::span<float> logits, std::span<const int32_t> history,
                            float penalty) {
    if (penalty == 1.0f) return;
    std::unordered_set<int32_t> seen;
    for (int32_t id : history) {
        if (id < 0 || size_t(id) >= logits.size() || !seen.insert(id).second) continue;
        float& l = logits[size_t(id)];
        l = l > 0.0f ? l / penalty : l * penalty;
    }
}

void samplingDistribution(std::span<const float> logitsIn, std::span<const int32_t> history,
                          const SamplingOptions& o, SamplingScratch& s) {
    std::vector<float>& logits = s.logits;
    std::vector<double>& p = s.p;
    logits.assign(logitsIn.begin(), logitsIn.end());
    applyRepetitionPenalty(logits, history, o.repetitionPenalty);
    p.assign(logits.size(), 0.0);
    if (logits.empty()) return;
    if (isGreedy(o)) {
        p[argmaxFirst(logits)] = 1.0;
        return;
    }
    // Softmax of logits / T, shifted by the max; NaN logits get probability 0.
    double mx = -INFINITY;
    for (float l : logits)
        if (!std::isnan(l)) mx = std::max(mx, double(l));
    for (size_t i = 0; i < logits.size(); ++i) {
        const double l = double(logits[i]);
        p[i] = std::isnan(l) || !std::isfinite(mx) ? 0.0 : std::exp((l - mx) / o.temperature);
    }
    if (std::accumulate(p.begin(), p.end(), 0.0) <= 0.0) {  // all NaN or -inf: fall back
        p.assign(p.size(), 0.0);
        p[argmaxFirst(logits)] = 1.0;
        return;
    }
    normalise(p);
    topK(p, o.topK, s.order);
    topP(p, o.topP, s.order);
    minP(p, o.minP);
}

std::vector<double> samplingDistribution(std::span<const float> logits,
                                         std::span<const int32_t> history,
                                         const SamplingOptions& o) {
    SamplingScratch s;
    samplingDistribution(logits, history, o, s);
    return std::move(s.p);
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
    if (isGreedy(opt_) && opt_.repetitionPenalty == 1.0f && !logits.empty())
        return int32_t(argmaxFirst(logits));  // no copy, no probabilities
    samplingDistribution(logits, history, opt_, scratch_);
    const std::vector<double>& p = scratch_.p;
    if (isGreedy(opt_)) return int32_t(std::max_element(p.begin(), p.end()) - p.begin());
    return drawToken(p, uniform());
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history, double u) {
    samplingDistribution(logits, history, opt_, scratch_);
    const std::vector<double>& p = scratch_.p;
    if (isGreedy(opt_)) return int32_t(std::max_element(p.begin(), p.end()) - p.begin());
    return drawToken(p, u);
}

int32_t drawToken(std::span<const double> p, double u) {
    double cum = 0.0;
    int32_t last = 0;
    for (size_t i = 0; i < p.size(); ++i) {
        if (p[i] <= 0.0) continue;
        cum += p[i];
        last = int32_t(i);
        if (u < cum) return last;
    }
    return last;  // rounding left u above the final sum: the last candidate
}

}  // namespace lectern::generate
