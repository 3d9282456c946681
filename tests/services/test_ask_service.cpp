// Asking questions end to end on a random byte-level model and a real store: the answer from
// the cached state equals a full re-read of document + question, streaming gives the same
// text, a batch equals questions asked one by one, the state comes back resident and then
// restored from disk, "as of page N" reads only the first N pages, bad questions fail
// before any work, and cancel stops an answer.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

#include "ask_service.h"
#include "random_model.h"
#include "test_ask_store_util.h"

namespace lectern::services {
namespace {

using testing::page;

class AskTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_NE(s.store(), nullptr) << s.error();
        auto d = testing::putTestDocument(
            *s.store(), "case", "/lease.pdf", "pdf",
            {page(1, "This lease runs for five years from signing."),
             page(2, "Either party may terminate with ninety days notice in writing."),
             page(3, "Termination for cause needs no notice period.")});
        ASSERT_TRUE(d) << d.error();
        doc = *d;
        const std::string dir = (s.dir() / "model").string();
        ASSERT_TRUE(test::writeRandomModel(dir, test::RandomModelSpec{}, 5));
        auto m = Model::load(dir);
        ASSERT_TRUE(m) << m.error();
        model = std::make_unique<Model>(std::move(*m));
        CacheOptions o;
        o.storeDir = s.storeDir();
        auto c = StateCache::open(*model, TextCodec{}, o);
        ASSERT_TRUE(c) << c.error();
        cache = std::move(*c);
        ask = std::make_unique<AskService>(*cache, *s.store(), PromptFormat{});
    }

    AskRequest request(std::vector<std::string> questions) {
        AskRequest r;
        r.key = StateKey::document(doc);
        r.collection = "case";
        r.documentId = doc;
        r.questions = std::move(questions);
        return r;
    }

    AskOptions options() {
        AskOptions o;
        o.maxTokens = 12;
        return o;
    }

    // What a tool without a saved state does: read document and question from nothing.
    std::string reread(const std::string& question, int64_t throughTokens = -1) {
        auto text = cache->text(StateKey::document(doc));
        EXPECT_TRUE(text) << text.error();
        std::vector<int32_t> ids = (*text)->tokens;
        if (throughTokens >= 0) ids.resize(size_t(throughTokens));
        for (unsigned char c : PromptFormat{}.render(question)) ids.push_back(c);
        Session fresh = model->newSession();
        EXPECT_TRUE(fresh.prefill(ids));
        generate::GenerateOptions g;
        g.sampling.greedy = true;
        g.maxTokens = 12;
        g.stop = PromptFormat{}.stop;
        auto r = generate::generate(*model, fresh, g, generate::byteDecoder());
        EXPECT_TRUE(r) << r.error();
        return r ? r->text : "";
    }

    testing::ScratchStore s;
    int64_t doc = 0;
    std::unique_ptr<Model> model;
    std::unique_ptr<StateCache> cache;
    std::unique_ptr<AskService> ask;
};

TEST_F(AskTest, AnswerFromTheStateEqualsAFullReRead) {
    auto a = ask->ask(request({"Who may terminate?"}), options());
    ASSERT_TRUE(a) << a.error();
    ASSERT_EQ(a->size(), 1u);
    EXPECT_EQ((*a)[0].answer, reread("Who may terminate?"));
    EXPECT_EQ((*a)[0].from, StateTier::Rebuilt);
    EXPECT_GT((*a)[0].stateTokens, 100);
    EXPECT_GT((*a)[0].answerTokens, 0);
    EXPECT_GE((*a)[0].timings.firstTokenSeconds, (*a)[0].timings.questionPrefillSeconds);
    // Passages come from this document and name where they are.
    ASSERT_FALSE((*a)[0].passages.empty());
    EXPECT_EQ((*a)[0].passages[0].documentId, doc);
    EXPECT_EQ((*a)[0].passages[0].location.rfind("page ", 0), 0u);
}

TEST_F(AskTest, StreamedTextIsTheAnswer) {
    std::string streamed;
    AskOptions o = options();
    o.onText = [&](size_t q, std::string_view t) {
        EXPECT_EQ(q, 0u);
        streamed += t;
        return true;
    };
    auto a = ask->ask(request({"How long does the lease run?"}), o);
    ASSERT_TRUE(a) << a.error();
    EXPECT_EQ(streamed, (*a)[0].answer);
}

TEST_F(AskTest, BatchEqualsOneByOneAndTheStateStaysResidentThenRestores) {
    const std::vector<std::string> qs = {"Who may terminate?", "How much notice?"};
    auto batch = ask->ask(request(qs), options());
    ASSERT_TRUE(batch) << batch.error();
    ASSERT_EQ(batch->size(), 2u);
    EXPECT_EQ((*batch)[0].from, StateTier::Rebuilt);
    for (size_t i = 0; i < qs.size(); ++i) {
        auto one = ask->ask(request({qs[i]}), options());
        ASSERT_TRUE(one) << one.error();
        EXPECT_EQ((*one)[0].answer, (*batch)[i].answer) << qs[i];
        EXPECT_EQ((*one)[0].from, StateTier::Resident);
        EXPECT_STREQ(stateOriginName((*one)[0].from), "resident");
    }
    cache->dropMemory();
    auto again = ask->ask(request({qs[0]}), options());
    ASSERT_TRUE(again) << again.error();
    EXPECT_EQ((*again)[0].from, StateTier::Disk);
    EXPECT_STREQ(stateOriginName((*again)[0].from), "restored");
    EXPECT_EQ((*again)[0].answer, (*batch)[0].answer);
}

TEST_F(AskTest, AsOfPageReadsOnlyThosePages) {
    auto text = cache->text(StateKey::document(doc));
    ASSERT_TRUE(text) << text.error();
    auto through = (*text)->tokensThroughPage(1);
    ASSERT_TRUE(through) << through.error();
    AskRequest r = request({"How long does the lease run?"});
    r.asOfPage = 1;
    auto a = ask->ask(r, options());
    ASSERT_TRUE(a) << a.error();
    EXPECT_EQ((*a)[0].stateTokens, *through);
    EXPECT_LT((*a)[0].stateTokens, int64_t((*text)->tokens.size()));
    EXPECT_EQ((*a)[0].answer, reread("How long does the lease run?", *through));
    // Its passages come from the pages read, never a later one.
    for (const Passage& p : (*a)[0].passages) EXPECT_EQ(p.page, 1) << p.location;
}

TEST_F(AskTest, BadQuestionsFailBeforeAnyWork) {
    const std::string cases[] = {"", "   ", std::string(1 << 20, 'x'), "bad \xfe"};
    for (const std::string& q : cases) {
        auto a = ask->ask(request({"fine", q}), options());
        ASSERT_FALSE(a);
        EXPECT_NE(a.error().find("question 2"), std::string::npos) << a.error();
    }
    EXPECT_EQ(cache->stats().residentCount, 0) << "no state was built for a bad question";
    auto none = ask->ask(request({}), options());
    EXPECT_FALSE(none);
}

TEST_F(AskTest, CancelStopsTheAnswer) {
    PromptFormat noStops;
    noStops.stop.clear();  // only the cancel can end this answer before 200 tokens
    AskService unbounded(*cache, *s.store(), noStops);
    std::atomic<bool> cancel{false};
    AskOptions o = options();
    o.maxTokens = 200;
    o.cancel = &cancel;
    o.onText = [&](size_t, std::string_view) {
        cancel.store(true);
        return true;
    };
    auto a = unbounded.ask(request({"Say something long"}), o);
    ASSERT_TRUE(a) << a.error();
    ASSERT_EQ(a->size(), 1u);
    EXPECT_EQ((*a)[0].stop, generate::StopReason::Cancelled);
    EXPECT_LT((*a)[0].answerTokens, 5);
}

}  // namespace
}  // namespace lectern::services
