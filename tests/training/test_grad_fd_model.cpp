// The whole-model backward (training/model_train.cpp: every op chained, tied and untied
// heads, MLP, out-proj norm, SISO and MIMO) against central finite differences of the
// summed next-token loss, on random tiny models (tests/engine/random_model.h). The loss is
// a double; it is passed through fd_check.h as {hi, lo} floats with unit weights. The
// engine's forward is fp32, so the summed loss carries ~1e-6 relative rounding noise: the
// step is 1e-2 (Richardson-extrapolated) and the bar 2e-2 of max(max|grad|, 0.5). This checks the
// chaining of the ops; each op's own accuracy is test_grad_fd_cpu's (1e-3) and the golden test's
// (1e-4).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "engine/random_model.h"
#include "fd_check.h"
#include "training/model_io.h"
#include "training/model_train.h"
#include "training/params.h"

namespace lectern {
namespace {

class GradFdModel : public ::testing::TestWithParam<int> {};

TEST_P(GradFdModel, EveryParameterTensor) {
    const char* env = std::getenv("LECTERN_TEST_SEED");
    const uint64_t seed =
        (env ? std::strtoull(env, nullptr, 10) : 7u) * 131u + uint64_t(GetParam());
    test::RandomModelSpec spec = test::randomSpec(seed);
    spec.mimoRank = GetParam() % 2 ? 2 : 0;  // half SISO, half MIMO
    spec.dIntermediate = GetParam() % 3 == 0 ? 24 : 0;
    spec.tied = GetParam() % 4 < 2;
    spec.outprojNorm = GetParam() % 5 < 3;
    spec.dModel = std::min(spec.dModel, 32);  // keep it quick on a shared 2-core machine
    spec.nLayer = std::min(spec.nLayer, 2);
    std::printf("  seed %llu: %s\n", (unsigned long long)seed, spec.describe().c_str());
    const std::string dir = test::makeTempDir("lectern-fd-model");
    ASSERT_TRUE(test::writeRandomModel(dir, spec, seed));
    auto m = train::loadTrainModel(dir);
    std::filesystem::remove_all(dir);
    ASSERT_TRUE(m) << m.error();
    std::mt19937_64 rng(seed);
    const int64_t B = 2, L = 9;
    std::vector<int32_t> ids(size_t(B * L));
    for (int32_t& t : ids) t = int32_t(rng() % uint64_t(m->cfg.vocabSize));
    model::ModelWeights grads = train::zerosLike(m->cfg);
    std::vector<test::FdVar> vars;
    auto gNamed = train::namedParams(m->cfg, grads);
    auto wNamed = train::namedParams(m->cfg, m->w);
    for (size_t i = 0; i < wNamed.size(); ++i)
        vars.push_back({wNamed[i].name, wNamed[i].data, gNamed[i].data});
    auto fwd = [&] {
        const double loss = train::loss_and_grads(m->cfg, m->w, ids.data(), B, L, nullptr, 1.0);
        const float hi = float(loss);
        return std::vector<float>{hi, float(loss - hi)};
    };
    auto bwd = [&](const std::vector<float>&) {
        train::loss_and_grads(m->cfg, m->w, ids.data(), B, L, &grads, 1.0);
    };
    test::fdCheck("model", vars, fwd, bwd, rng,
                  {.step = 1e-2,
                   .tol = 2e-2,
                   .samples = 3,
                   .floor = 0.5,
                   .unitWeights = true,
                   .richardson = true});
}

INSTANTIATE_TEST_SUITE_P(RandomModels, GradFdModel, ::testing::Range(0, 6));

}  // namespace
}  // namespace lectern
