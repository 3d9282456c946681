// Central finite differences for the training backward, in a careful fp32 scheme: the
// scalar checked is L = Σ_i w_i·out_i with fixed random w, summed in double; only the
// outputs a perturbed input reaches change between the two evaluations (the rest are
// recomputed bit-identically and cancel), so the difference quotient keeps fp32's
// relative accuracy on those. Per input tensor a few random entries plus the entry of the
// largest analytic gradient are checked, against tol × max|analytic| of that tensor (the
// golden data's per-tensor measure).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace lectern::test {

struct FdVar {
    std::string name;
    std::vector<float>* value;
    std::vector<float>* grad;  // filled by the backward (+=), zeroed here first
};

struct FdOptions {
    double step = 3e-3;  // relative to max(1, |x|)
    double tol = 1e-3;   // of max|analytic| over the tensor (the ops show ~1e-5)
    int samples = 10;
    double floor = 1e-6;  // denominators below this use it (fp32-noise-limited checks)
    bool unitWeights = false;
    bool richardson = false;  // (4·D(h/2) − D(h))/3: truncation O(h⁴) instead of O(h²)  // w = 1:
                              // forward returns a double split as {hi, lo}
};

// forward(): the op's outputs for the current inputs. backward(w): accumulate the
// gradients of Σ w·out into every FdVar::grad.
inline void fdCheck(const std::string& op, std::vector<FdVar> vars,
                    const std::function<std::vector<float>()>& forward,
                    const std::function<void(const std::vector<float>&)>& backward,
                    std::mt19937_64& rng, const FdOptions& o = {}) {
    const std::vector<float> out0 = forward();
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<float> w(out0.size());
    for (float& x : w) x = o.unitWeights ? 1.0f : g(rng);
    for (FdVar& v : vars) std::fill(v.grad->begin(), v.grad->end(), 0.0f);
    backward(w);
    auto L = [&] {
        const std::vector<float> out = forward();
        double s = 0.0;
        for (size_t i = 0; i < out.size(); ++i) s += double(w[i]) * out[i];
        return s;
    };
    for (FdVar& v : vars) {
        ASSERT_EQ(v.value->size(), v.grad->size()) << op << " " << v.name;
        double scale = 0.0;
        size_t big = 0;
        for (size_t i = 0; i < v.grad->size(); ++i) {
            ASSERT_TRUE(std::isfinite((*v.grad)[i])) << op << " " << v.name << "[" << i << "]";
            if (std::fabs((*v.grad)[i]) > scale) scale = std::fabs((*v.grad)[i]), big = i;
        }
        std::vector<size_t> idx{big};
        std::uniform_int_distribution<size_t> pick(0, v.value->size() - 1);
        for (int s = 0; s < o.samples; ++s) idx.push_back(pick(rng));
        double worst = 0.0;
        for (size_t i : idx) {
            float& x = (*v.value)[i];
            const float x0 = x;
            auto quotient = [&](double step) {
                const float h = float(step * std::max(1.0, std::fabs(double(x0))));
                x = x0 + h;
                const float hp = x - x0;  // the step actually taken in fp32
                const double lp = L();
                x = x0 - h;
                const float hm = x0 - x;
                const double lm = L();
                x = x0;
                return (lp - lm) / (double(hp) + double(hm));
            };
            const double d1 = quotient(o.step);
            const double fd = o.richardson ? (4.0 * quotient(o.step / 2) - d1) / 3.0 : d1;
            const double err = std::fabs(fd - (*v.grad)[i]) / std::max(scale, o.floor);
            worst = std::max(worst, err);
            EXPECT_LE(err, o.tol) << op << " d" << v.name << "[" << i << "]: analytic "
                                  << (*v.grad)[i] << " finite difference " << fd << " (max|grad| "
                                  << scale << ")";
        }
        std::printf("  %-22s d%-10s max|g| %.3e  worst rel err %.2e\n", op.c_str(), v.name.c_str(),
                    scale, worst);
    }
}

inline std::vector<float> randn(size_t n, std::mt19937_64& rng, float mean = 0.0f,
                                float sd = 1.0f) {
    std::normal_distribution<float> g(mean, sd);
    std::vector<float> v(n);
    for (float& x : v) x = g(rng);
    return v;
}

inline std::vector<float> uniform(size_t n, std::mt19937_64& rng, float lo, float hi) {
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(n);
    for (float& x : v) x = u(rng);
    return v;
}

}  // namespace lectern::test
