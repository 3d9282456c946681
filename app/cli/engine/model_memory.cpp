// Each head's decay on real text: the state of head h is multiplied by exp(adt[t, h]) at
// token t, so a fact written at t0 is still exp(sum of adt over (t0, t]) of itself at t.
// Reach beyond a few thousand tokens needs heads whose summed decay over that span stays
// small; this prints, per layer and head, the median dt, the mean -adt, and the median
// over positions of -sum(adt) over the last 1k, 4k and 16k tokens (e-folds: 1 keeps 37%,
// 5 keeps 0.7%, 20 nothing measurable).
#include "cli/engine/model_memory.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "cli/command.h"
#include "training/data_stream.h"
#include "training/model_io.h"
#include "training/model_train.h"

namespace lectern::cli {
namespace {

int fail(const std::string& message) {
    std::fprintf(stderr, "lectern-cli model memory: %s\n", message.c_str());
    return kExitFailure;
}

double median(std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
}

// Median over end positions of the e-folds lost over the last `span` tokens; -1 when the
// text is shorter than the span.
double spanEfolds(const std::vector<double>& prefix, int64_t span) {
    const int64_t T = int64_t(prefix.size()) - 1;
    if (T < span) return -1.0;
    std::vector<double> v;
    for (int64_t t = span; t <= T; ++t) v.push_back(prefix[size_t(t)] - prefix[size_t(t - span)]);
    return median(std::move(v));
}

}  // namespace

int runModelMemory(const ModelMemoryArgs& a) {
    auto m = train::loadTrainModel(a.model);
    if (!m) return fail(m.error());
    auto data = train::ByteDataStream::fromFiles({a.text}, 0.0, 0);
    if (!data) return fail(data.error());
    std::vector<int32_t> ids = data->train();
    if (int64_t(ids.size()) > a.tokens) ids.resize(size_t(a.tokens));
    const int64_t T = int64_t(ids.size());
    if (T < 2) return fail(a.text + ": fewer than 2 bytes");
    if (m->cfg.vocabPadded() < 256) return fail("byte-level input needs a vocabulary >= 256");

    train::Activations act;
    train::train_forward(m->cfg, m->w, ids.data(), T, act, false);
    const int64_t H = m->cfg.dims().H;
    std::printf("%s on the first %lld bytes of %s\n", a.model.c_str(), (long long)T,
                a.text.c_str());
    std::printf("layer head  median_dt  mean_-adt  e-folds_1k  e-folds_4k  e-folds_16k\n");
    for (size_t l = 0; l < act.layers.size(); ++l) {
        const train::MixerActivations& x = act.layers[l].mixer;
        for (int64_t h = 0; h < H; ++h) {
            std::vector<double> dt(static_cast<size_t>(T)), prefix(static_cast<size_t>(T) + 1, 0.0);
            for (int64_t t = 0; t < T; ++t) {
                dt[size_t(t)] = x.dt[size_t(t * H + h)];
                prefix[size_t(t) + 1] = prefix[size_t(t)] - x.adt[size_t(t * H + h)];
            }
            std::printf("%5zu %4lld  %9.2e  %9.2e  %10.2f  %10.2f  %11.2f\n", l, (long long)h,
                        median(dt), prefix.back() / double(T), spanEfolds(prefix, 1024),
                        spanEfolds(prefix, 4096), spanEfolds(prefix, 16384));
        }
    }
    return kExitOk;
}

}  // namespace lectern::cli
