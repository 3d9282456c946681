// measureDrift: engines and the fp64 reference over the same long document.
#include "drift_check.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <span>
#include <thread>

#include "reference_fp64.h"

namespace lectern::test {
namespace {

void worst(ErrorStats& acc, const ErrorStats& e) {
    if (!e.finite || (acc.finite && e.maxRel > acc.maxRel)) acc = e;
}

DriftRow compare(const std::string& name, int64_t tokens, const DocumentState& ours,
                 const DocumentState& ref) {
    DriftRow row{name, tokens, {}, {}, {}, {}};
    for (size_t i = 0; i < ref.layers().size(); ++i) {
        const LayerState &a = ours.layers()[i], &b = ref.layers()[i];
        worst(row.ssm, compareRel(a.ssm.data(), b.ssm.data(), b.ssm.size()));
        worst(row.k, compareRel(a.k.data(), b.k.data(), b.k.size()));
        worst(row.v, compareRel(a.v.data(), b.v.data(), b.v.size()));
        worst(row.angle, compareAngle(a.angle.data(), b.angle.data(), b.angle.size()));
    }
    return row;
}

}  // namespace

bool DriftRow::within(double rel, double angleRad) const {
    return ssm.within(rel) && k.within(rel) && v.within(rel) && angle.within(angleRad);
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
    std::vector<ReferenceFp64> refs;  // [0] the model, [1] with bf16 projections
    for (bool bf16 : {false, true}) {
        auto r = ReferenceFp64::load(modelDir, bf16);
        if (!r) {
            error = r.error();
            return rows;
        }
        refs.push_back(std::move(*r));
    }
    const bool anyBf16 = std::any_of(engines.begin(), engines.end(),
                                     [](const DriftEngine& e) { return e.bf16Projections; });
    std::vector<Session> sessions;
    for (const DriftEngine& e : engines) sessions.push_back(e.model->newSession());
    std::vector<DocumentState> refState(2, engines.front().model->newState());
    std::printf("  %-14s %9s %10s %10s %10s %11s\n", "engine", "tokens", "ssm rel", "k rel",
                "v rel", "angle (rad)");
    int64_t done = 0;
    for (int64_t upTo : checkpoints) {
        const std::span<const int32_t> piece(ids.data() + done, size_t(upTo - done));
        {  // the references side by side (each is one thread's serial walk)
            std::vector<std::thread> walks;
            for (size_t r = 0; r < (anyBf16 ? 2u : 1u); ++r)
                walks.emplace_back([&, r] { refs[r].read(piece.data(), int64_t(piece.size())); });
            for (std::thread& w : walks) w.join();
        }
        for (size_t r = 0; r < 2; ++r) refs[r].copyTo(refState[r]);
        for (size_t e = 0; e < engines.size(); ++e) {
            if (Status s = sessions[e].prefill(piece); !s) {
                error = engines[e].name + ": " + s.message();
                return rows;
            }
            rows.push_back(compare(engines[e].name, upTo, std::as_const(sessions[e]).state(),
                                   refState[engines[e].bf16Projections ? 1 : 0]));
            const DriftRow& r = rows.back();
            std::printf("  %-14s %9lld %10.2e %10.2e %10.2e %11.2e%s\n", r.engine.c_str(),
                        (long long)upTo, r.ssm.maxRel, r.k.maxRel, r.v.maxRel, r.angle.maxAbs,
                        r.within(engines[e].rel, engines[e].angleRad) ? "" : "  OVER THE BOUND");
        }
        done = upTo;
    }
    return rows;
}

}  // namespace lectern::test
