// Comparing engine outputs with references, as ../shared/golden/README.md defines it:
// max|ours − ref| / max|ref| over the whole tensor; NaN or inf on either side never
// passes (RELIABILITY NUM-1). Angles compare modulo 2π.
#pragma once

#include <cmath>
#include <cstddef>
#include <numbers>
#include <string>

namespace lectern::test {

struct ErrorStats {
    double maxAbs = 0.0, maxRel = 0.0, nmse = 0.0;
    bool finite = true;
    std::string describe() const {
        char buf[160];
        std::snprintf(buf, sizeof buf, "max_abs %.3e  max_rel %.3e  nmse %.3e%s", maxAbs, maxRel,
                      nmse, finite ? "" : "  NON-FINITE");
        return buf;
    }
    bool within(double tol) const { return finite && maxRel <= tol; }
};

inline ErrorStats compareRel(const float* ours, const float* ref, size_t n) {
    ErrorStats e;
    double maxRef = 0.0, se = 0.0, sr = 0.0;
    for (size_t i = 0; i < n; ++i) {
        if (!std::isfinite(ours[i]) || !std::isfinite(ref[i])) e.finite = false;
        const double d = std::fabs(double(ours[i]) - double(ref[i]));
        if (!(d <= e.maxAbs)) e.maxAbs = d;  // a NaN difference also lands here
        maxRef = std::fmax(maxRef, std::fabs(double(ref[i])));
        se += d * d;
        sr += double(ref[i]) * ref[i];
    }
    e.maxRel = maxRef > 0.0 ? e.maxAbs / maxRef : e.maxAbs;
    e.nmse = sr > 0.0 ? se / sr : se;
    if (!e.finite) e.maxRel = INFINITY;
    return e;
}

// Circular difference d = ((ours − ref + π) mod 2π) − π; maxAbs is max|d| in radians.
inline ErrorStats compareAngle(const float* ours, const float* ref, size_t n) {
    ErrorStats e;
    const double twoPi = 2.0 * std::numbers::pi;
    for (size_t i = 0; i < n; ++i) {
        if (!std::isfinite(ours[i]) || !std::isfinite(ref[i])) e.finite = false;
        double d = double(ours[i]) - double(ref[i]) + std::numbers::pi;
        d = d - twoPi * std::floor(d / twoPi) - std::numbers::pi;
        e.maxAbs = std::fmax(e.maxAbs, std::fabs(d));
    }
    e.maxRel = e.finite ? e.maxAbs : INFINITY;
    return e;
}

}  // namespace lectern::test
