// loss_and_grads runs the batch's rows on parallel threads (training/model_train.cpp): the
// loss and every gradient must be the same bit for bit with 1, 2 and 3 threads (rows are
// added in row order whatever the thread count), and with gradients already in the buffer
// (gradient accumulation), so a resumed run on a machine with other cores continues exactly.
#include <gtest/gtest.h>
#include <omp.h>

#include <cstring>
#include <vector>

#include "training/model_train.h"
#include "training/params.h"
#include "training/train_fixture.h"

namespace lectern {
namespace {

struct Result {
    double loss = 0.0;
    model::ModelWeights g;
};

Result run(const train::TrainModel& m, const std::vector<int32_t>& ids, int64_t B, int64_t L,
           int threads, bool preloaded) {
    omp_set_num_threads(threads);
    Result r{0.0, train::zerosLike(m.cfg)};
    if (preloaded) {  // a previous micro-batch's gradients
        for (train::NamedTensor& t : train::namedParams(m.cfg, r.g))
            for (size_t i = 0; i < t.data->size(); ++i) (*t.data)[i] = 1e-3f * float(i % 7);
    }
    r.loss = train::loss_and_grads(m.cfg, m.w, ids.data(), B, L, &r.g, 1.0 / double(B * (L - 1)));
    return r;
}

void expectSame(const train::TrainModel& m, Result& a, Result& b, const char* what) {
    EXPECT_EQ(a.loss, b.loss) << what;
    std::vector<train::NamedTensor> ta = train::namedParams(m.cfg, a.g),
                                    tb = train::namedParams(m.cfg, b.g);
    ASSERT_EQ(ta.size(), tb.size());
    for (size_t i = 0; i < ta.size(); ++i) {
        ASSERT_EQ(ta[i].data->size(), tb[i].data->size());
        EXPECT_EQ(0, std::memcmp(ta[i].data->data(), tb[i].data->data(),
                                 ta[i].data->size() * sizeof(float)))
            << what << ": " << ta[i].name;
    }
}

TEST(RowThreads, GradientsBitIdenticalForAnyThreadCount) {
    for (bool mimo : {false, true}) {
        auto m = test::tinyModel(mimo, 3);
        ASSERT_TRUE(m) << m.error();
        const int64_t B = 5, L = 40;
        std::vector<int32_t> ids(size_t(B * L));
        for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * 2654435761u >> 7) % 256);
        for (bool pre : {false, true}) {
            Result one = run(*m, ids, B, L, 1, pre);
            Result two = run(*m, ids, B, L, 2, pre);
            Result three = run(*m, ids, B, L, 3, pre);
            expectSame(*m, one, two, "1 vs 2 threads");
            expectSame(*m, one, three, "1 vs 3 threads");
            if (pre) continue;
            // Not vacuous: every row contributes (a changed row changes the gradient).
            std::vector<int32_t> other = ids;
            other[size_t(3 * L + 5)] ^= 1;
            omp_set_num_threads(2);
            model::ModelWeights changed = train::zerosLike(m->cfg);
            train::loss_and_grads(m->cfg, m->w, other.data(), B, L, &changed,
                                  1.0 / double(B * (L - 1)));
            EXPECT_NE(0, std::memcmp(changed.embedding.data(), one.g.embedding.data(),
                                     one.g.embedding.size() * sizeof(float)));
        }
    }
}

}  // namespace
}  // namespace lectern
