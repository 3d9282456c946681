// measureDrift: engines and the fp64 reference over the same long document.
#include "drift_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <span>
#include <thread>

#include "reference_fp64.h"

namespace lectern::test {
namespace {

void worst(ErrorStats& acc, const ErrorStats& e) {
    if (!e.finite || (acc.finite && e.maxRel > acc.maxRel)) acc = e;
}

// Rows of N values with each rotated pair (SISO (2a, 2a+1), MIMO (a, a + N/2), a < A)
// replaced by its length in both places: what a rotation of the angles leaves alone.
std::vector<float> pairLengths(const std::vector<float>& x, const ModelInfo& m) {
    const int N = m.dState, A = m.ropeAngles;
    const bool mimo = m.architecture.find("MIMO") != std::string::npos;
    std::vector<float> out(x);
    for (size_t row = 0; row + size_t(N) <= x.size(); row += size_t(N))
        for (int a = 0; a < A; ++a) {
            const size_t i0 = row + size_t(mimo ? a : 2 * a);
            const size_t i1 = row + size_t(mimo ? a + N / 2 : 2 * a + 1);
            out[i0] = out[i1] = std::hypot(x[i0], x[i1]);
        }
    return out;
}

ErrorStats compareStates(const std::vector<float>& ours, const std::vector<float>& ref,
                         const ModelInfo* frameFree) {
    if (!frameFree) return compareRel(ours.data(), ref.data(), ref.size());
    const std::vector<float> a = pairLengths(ours, *frameFree), b = pairLengths(ref, *frameFree);
    return compareRel(a.data(), b.data(), b.size());
}

DriftRow compare(const std::string& name, int64_t tokens, const DocumentState& ours,
                 const DocumentState& ref, const ModelInfo* frameFree) {
    DriftRow row{name, tokens, {}, {}, {}, {}, frameFree != nullptr};
    for (size_t i = 0; i < ref.layers().size(); ++i) {
        const LayerState &a = ours.layers()[i], &b = ref.layers()[i];
        worst(row.ssm, compareStates(a.ssm, b.ssm, frameFree));
        worst(row.k, compareStates(a.k, b.k, frameFree));
        worst(row.v, compareRel(a.v.data(), b.v.data(), b.v.size()));
        worst(row.angle, compareAngle(a.angle.data(), b.angle.data(), b.angle.size()));
    }
    return row;
}

}  // namespace

std::string DriftRow::describe() const {
    return engine + " at " + std::to_string(tokens) + ": ssm " + ssm.describe() + ", k " +
           k.describe() + ", v " + v.describe() + ", angle " + angle.describe() +
           (frameFree ? " (ssm, k by pair lengths; angle reported)" : "");
}

int64_t driftLength(int64_t dflt) {
    if (const char* e = std::getenv("LECTERN_DRIFT_TOKENS")) return std::max(64LL, std::atoll(e));
    return dflt;
}

RandomModelSpec driftSpec(int mimoRank) {
    RandomModelSpec spec;
    spec.dModel = 32;
    spec.nLayer = 2;
    spec.dState = 16;
    spec.headdim = 16;
    spec.chunk = 64;
    spec.mimoRank = mimoRank;
    return spec;
}

std::vector<int32_t> driftTokens(uint64_t seed, int64_t n, int vocab) {
    std::mt19937_64 rng(seed);
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (auto& t : ids) t = int32_t(rng() % uint64_t(vocab));
    return ids;
}

std::vector<DriftRow> measureDrift(const std::string& modelDir, const std::vector<int32_t>& ids,
                                   const std::vector<int64_t>& checkpoints,
                                   const std::vector<DriftEngine>& engines, std::string& error) {
    std::vector<DriftRow> rows;
    const bool anyBf16 = std::any_of(engines.begin(), engines.end(),
                                     [](const DriftEngine& e) { return e.bf16Projections; });
    std::vector<ReferenceFp64> refs;  // [0] the model, [1] with bf16 projections if asked for
    for (bool bf16 : {false, true}) {
        if (bf16 && !anyBf16) break;
        auto r = ReferenceFp64::load(modelDir, bf16);
        if (!r) {
            error = r.error();
            return rows;
        }
        refs.push_back(std::move(*r));
    }
    std::vector<Session> sessions;
    for (const DriftEngine& e : engines) sessions.push_back(e.model->newSession());
    std::vector<DocumentState> refState(refs.size(), engines.front().model->newState());
    std::printf("  %-14s %9s %10s %10s %10s %11s\n", "engine", "tokens", "ssm rel", "k rel",
                "v rel", "angle (rad)");
    int64_t done = 0;
    for (int64_t upTo : checkpoints) {
        const std::span<const int32_t> piece(ids.data() + done, size_t(upTo - done));
        {  // the references side by side (each is one thread's serial walk)
            std::vector<std::thread> walks;
            for (size_t r = 0; r < refs.size(); ++r)
                walks.emplace_back([&, r] { refs[r].read(piece.data(), int64_t(piece.size())); });
            for (std::thread& w : walks) w.join();
        }
        for (size_t r = 0; r < refs.size(); ++r) refs[r].copyTo(refState[r]);
        for (size_t e = 0; e < engines.size(); ++e) {
            if (Status s = sessions[e].prefill(piece); !s) {
                error = engines[e].name + ": " + s.message();
                return rows;
            }
            rows.push_back(compare(engines[e].name, upTo, std::as_const(sessions[e]).state(),
                                   refState[engines[e].bf16Projections ? 1 : 0],
                                   engines[e].frameFree ? &engines[e].model->info() : nullptr));
            DriftRow& r = rows.back();
            const double b = engines[e].bound(upTo);
            r.withinBound = r.ssm.within(b) && r.k.within(b) && r.v.within(b) &&
                            (r.frameFree ? r.angle.finite : r.angle.within(b));
            std::printf("  %-14s %9lld %10.2e %10.2e %10.2e %11.2e%s\n", r.engine.c_str(),
                        (long long)upTo, r.ssm.maxRel, r.k.maxRel, r.v.maxRel, r.angle.maxAbs,
                        !r.withinBound ? "  OVER THE BOUND"
                        : r.frameFree  ? "  (pair lengths; angle reported)"
                                       : "");
        }
        done = upTo;
    }
    return rows;
}

}  // namespace lectern::test
