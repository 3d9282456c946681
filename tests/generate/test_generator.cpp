// Generation and scoring on the golden models (../shared/golden): greedy generation equals
// the official greedy continuation for every case; stop strings end generation even when
// they span token boundaries and never reach the stream; cancel, the callback, max tokens
// and end-of-sequence stop it; scoring equals a log-softmax of the model's own logits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "generate/generator.h"
#include "io/safetensors.h"

namespace lectern::generate {
namespace {

struct Golden {
    Model model;
    std::vector<int32_t> prompt;     // row 0 of input_ids
    std::vector<int32_t> generated;  // the official greedy continuation
    std::vector<float> logits;       // the official logits of row 0, [L, V_pad]
};

std::optional<Golden> loadGolden(const std::string& name) {
    const std::string dir = std::string(LECTERN_GOLDEN_DIR) + "/" + name;
    if (!std::filesystem::exists(dir)) return std::nullopt;
    auto model = Model::load(dir);
    EXPECT_TRUE(model) << model.error();
    auto io = io::safetensorsRead(dir + "/io.safetensors");
    EXPECT_TRUE(io) << io.error();
    if (!model || !io) return std::nullopt;
    const io::RawTensor& ids = io->tensors.at("input_ids");
    const io::RawTensor& gen = io->tensors.at("generated_ids");
    Golden g{std::move(*model),
             std::vector<int32_t>(size_t(ids.shape[1])),
             std::vector<int32_t>(size_t(gen.shape[0])),
             {}};
    std::memcpy(g.prompt.data(), ids.bytes.data(), g.prompt.size() * 4);
    if (gen.dtype == io::DType::I64) {
        for (size_t i = 0; i < g.generated.size(); ++i) {
            int64_t v;
            std::memcpy(&v, gen.bytes.data() + 8 * i, 8);
            g.generated[i] = int32_t(v);
        }
    } else {
        std::memcpy(g.generated.data(), gen.bytes.data(), g.generated.size() * 4);
    }
    auto logits = io->tensors.at("logits").toFloat32();
    if (logits)
        g.logits.assign(logits->begin(),
                        logits->begin() + int64_t(g.prompt.size()) * g.model.info().vocabPadded);
    return g;
}

// Text for any id, several bytes per token so stop strings can straddle tokens.
Expected<std::string> idText(int32_t id) {
    return "<" + std::to_string(id) + ">";
}

const char* kCases[] = {"siso_tiny", "siso_mlp_norm", "mimo_tiny", "mimo_norm"};

TEST(Generator, GreedyEqualsTheOfficialContinuation) {
    int ran = 0;
    for (const char* name : kCases) {
        auto g = loadGolden(name);
        if (!g) continue;
        ++ran;
        Session s = g->model.newSession();
        ASSERT_TRUE(s.prefill(g->prompt));
        GenerateOptions o;
        o.sampling.greedy = true;
        o.maxTokens = int(g->generated.size());
        auto r = generate(g->model, s, o, idText);
        ASSERT_TRUE(r) << r.error();
        EXPECT_EQ(r->ids, g->generated) << name;
        EXPECT_EQ(r->reason, StopReason::MaxTokens);
        EXPECT_EQ(s.position(), int64_t(g->prompt.size() + g->generated.size()));
    }
    if (ran == 0) GTEST_SKIP() << "no golden data at " << LECTERN_GOLDEN_DIR;
}

TEST(Generator, StopStringsAcrossTokenBoundaries) {
    auto g = loadGolden("siso_tiny");
    if (!g) GTEST_SKIP() << "no golden data";
    std::string full;
    std::vector<size_t> ends;  // end offset of each token's text
    for (int32_t id : g->generated) ends.push_back((full += *idText(id)).size());
    // A stop string made of the last two bytes of token 4 and the first two of token 5.
    const std::string stop = full.substr(ends[4] - 2, 4);
    const size_t at = full.find(stop);
    size_t tokens = 0;
    while (ends[tokens] < at + stop.size()) ++tokens;
    ++tokens;  // the token that completes the stop string is generated too
    for (const std::vector<std::string>& stops :
         {std::vector<std::string>{stop}, std::vector<std::string>{"never seen", stop}}) {
        Session s = g->model.newSession();
        ASSERT_TRUE(s.prefill(g->prompt));
        GenerateOptions o;
        o.sampling.greedy = true;
        o.maxTokens = int(g->generated.size());
        o.stop = stops;
        std::string streamed;
        o.onToken = [&](const TokenEvent& e) {
            streamed += e.text;
            return true;
        };
        auto r = generate(g->model, s, o, idText);
        ASSERT_TRUE(r) << r.error();
        EXPECT_EQ(r->reason, StopReason::StopString);
        EXPECT_EQ(r->text, full.substr(0, at));
        EXPECT_EQ(r->ids.size(), tokens);
        EXPECT_EQ(streamed, r->text);  // no byte of the stop string was streamed
    }
}

TEST(Generator, CancelCallbackEndOfSequenceAndLimits) {
    auto g = loadGolden("mimo_tiny");
    if (!g) GTEST_SKIP() << "no golden data";
    const Session base = [&] {
        Session s = g->model.newSession();
        EXPECT_TRUE(s.prefill(g->prompt));
        return s;
    }();
    GenerateOptions o;
    o.sampling.greedy = true;
    o.maxTokens = 10;
    std::atomic<bool> cancel{false};
    o.cancel = &cancel;
    o.onToken = [&](const TokenEvent& e) {
        if (e.index == 2) cancel.store(true);
        return true;
    };
    Session s = base.fork();
    auto r = generate(g->model, s, o, idText);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reason, StopReason::Cancelled);
    EXPECT_EQ(r->ids.size(), 3u);
    EXPECT_EQ(r->text, "<" + std::to_string(g->generated[0]) + "><" +
                           std::to_string(g->generated[1]) + "><" +
                           std::to_string(g->generated[2]) + ">");

    o.cancel = nullptr;
    o.onToken = [](const TokenEvent& e) { return e.index < 4; };
    s = base.fork();
    r = generate(g->model, s, o, idText);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reason, StopReason::Callback);
    EXPECT_EQ(r->ids.size(), 5u);

    o.onToken = nullptr;
    o.endOfSequence = g->generated[3];
    s = base.fork();
    r = generate(g->model, s, o, idText);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reason, StopReason::EndOfSequence);
    const auto firstEos = std::find(g->generated.begin(), g->generated.end(), g->generated[3]);
    EXPECT_EQ(r->ids.size(), size_t(firstEos - g->generated.begin()) + 1);

    o.endOfSequence.reset();
    o.maxTokens = 0;
    s = base.fork();
    r = generate(g->model, s, o, idText);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->ids.empty());
    EXPECT_EQ(s.position(), base.position());

    Session empty = g->model.newSession();
    EXPECT_FALSE(generate(g->model, empty, o, idText));  // nothing to continue
    o.stop = {""};
    s = base.fork();
    EXPECT_FALSE(generate(g->model, s, o, idText));  // an empty stop string
}

TEST(Generator, SeededSamplingIsReproducible) {
    auto g = loadGolden("siso_tiny");
    if (!g) GTEST_SKIP() << "no golden data";
    GenerateOptions o;
    o.sampling = {.temperature = 0.9f,
                  .topK = 50,
                  .topP = 0.95f,
                  .minP = 0.02f,
                  .repetitionPenalty = 1.1f,
                  .seed = 7};
    o.maxTokens = 24;
    o.history = g->prompt;
    auto run = [&](uint64_t seed) {
        o.sampling.seed = seed;
        Session s = g->model.newSession();
        EXPECT_TRUE(s.prefill(g->prompt));
        auto r = generate(g->model, s, o, byteDecoder());
        EXPECT_TRUE(r) << r.error();
        return r ? r->ids : std::vector<int32_t>{};
    };
    const auto a = run(7), b = run(7), c = run(8);
    EXPECT_EQ(a, b);
    EXPECT_EQ(a.size(), 24u);
    EXPECT_NE(a, c);
}

double logSoftmaxAt(const float* row, int vocab, int32_t id) {
    double mx = -INFINITY, sum = 0;
    for (int v = 0; v < vocab; ++v) mx = std::max(mx, double(row[v]));
    for (int v = 0; v < vocab; ++v) sum += std::exp(double(row[v]) - mx);
    return double(row[id]) - mx - std::log(sum);
}

TEST(Scoring, EqualsLogSoftmaxOfTheLogits) {
    auto g = loadGolden("siso_mlp_norm");
    if (!g) GTEST_SKIP() << "no golden data";
    const int V = g->model.info().vocabPadded, vocab = g->model.info().vocabSize;
    auto r = score(g->model, g->prompt);
    ASSERT_TRUE(r) << r.error();
    ASSERT_EQ(r->logprob.size(), g->prompt.size() - 1);
    double bits = 0, maxErr = 0;
    for (size_t t = 0; t + 1 < g->prompt.size(); ++t) {
        const double ref = logSoftmaxAt(g->logits.data() + t * size_t(V), vocab, g->prompt[t + 1]);
        maxErr = std::max(maxErr, std::abs(r->logprob[t] - ref));
        EXPECT_LE(r->logprob[t], 0.0);
        bits -= r->logprob[t] / std::log(2.0);
    }
    std::printf("max |logprob - official log-softmax| = %.3g nats\n", maxErr);
    EXPECT_LT(maxErr, 1e-3);
    EXPECT_NEAR(r->totalBits, bits, 1e-3);
}

TEST(Scoring, LongTextsAcrossPiecesMatchOnePrefill) {
    auto g = loadGolden("mimo_tiny");
    if (!g) GTEST_SKIP() << "no golden data";
    std::mt19937 rng(5);
    std::vector<int32_t> ids(1200);
    for (int32_t& id : ids) id = int32_t(rng() % uint32_t(g->model.info().vocabSize));
    auto r = score(g->model, ids);
    ASSERT_TRUE(r) << r.error();
    Session s = g->model.newSession();
    std::vector<float> logits;
    PrefillOptions opt;
    opt.allLogits = &logits;
    ASSERT_TRUE(s.prefill(ids, opt));
    const int V = g->model.info().vocabPadded;
    for (size_t t = 0; t + 1 < ids.size(); ++t)
        ASSERT_NEAR(r->logprob[t],
                    logSoftmaxAt(logits.data() + t * V, g->model.info().vocabSize, ids[t + 1]),
                    1e-6)
            << "token " << t;
    const std::vector<int32_t> bad = {1, 99999};
    EXPECT_FALSE(score(g->model, bad));
    EXPECT_TRUE(score(g->model, std::vector<int32_t>{3})->logprob.empty());
}

}  // namespace
}  // namespace lectern::generate
