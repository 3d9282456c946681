// The real lectern-cli's ask, review and surprise on a scratch store and a random model:
// --json carries the answer, passages, timings and the state's origin (rebuilt, then
// restored in a new process); bad questions exit 2 with a clear message; review writes the
// CSV; surprise --json gives the stored map.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "child_process.h"
#include "random_model.h"
#include "test_ask_store_util.h"

namespace lectern::services {
namespace {

using services::testing::lines;
using services::testing::page;

class AskCliTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_NE(s.store(), nullptr) << s.error();
        auto d = testing::putTestDocument(
            *s.store(), "case", "/lease.pdf", "pdf",
            {page(1, "This lease runs for five years."),
             page(2, "Either party may terminate with ninety days notice.")});
        ASSERT_TRUE(d) << d.error();
        doc = *d;
        auto c = testing::putTestDocument(*s.store(), "case", "/a.c", "source",
                                          {lines(1, 1, "int notice_days = 90;")});
        ASSERT_TRUE(c) << c.error();
        modelDir = (s.dir() / "model").string();
        ASSERT_TRUE(test::writeRandomModel(modelDir, test::RandomModelSpec{}, 3));
    }
    lectern::testing::ChildResult run(std::vector<std::string> args) {
        std::vector<std::string> argv{LECTERN_CLI, "--store", s.storeDir().string()};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.insert(argv.end(), {"--model", modelDir});
        return lectern::testing::runChild(argv, {}, 120000);
    }
    testing::ScratchStore s;
    int64_t doc = 0;
    std::string modelDir;
};

TEST_F(AskCliTest, AskJsonThenRestoredInANewProcess) {
    const std::string id = std::to_string(doc);
    auto first = run({"ask", "Who may terminate?", "--collection", "case", "--document", id,
                      "--json", "--max-tokens", "8"});
    ASSERT_EQ(first.exitCode, 0) << first.err;
    auto j = nlohmann::json::parse(first.out);
    EXPECT_EQ(j["state"], "rebuilt");
    EXPECT_TRUE(j["answer"].is_string());
    EXPECT_GT(j["state_tokens"].get<int64_t>(), 50);
    for (const char* k : {"state_load_s", "question_prefill_s", "first_token_s", "tokens_per_s"})
        EXPECT_TRUE(j["timings"].contains(k)) << k;
    ASSERT_FALSE(j["passages"].empty());
    EXPECT_EQ(j["passages"][0]["page"], 2);
    EXPECT_NE(j["passages_label"].get<std::string>().find("not cited by the model"),
              std::string::npos);
    auto second = run({"ask", "Who may terminate?", "--collection", "case", "--document", id,
                       "--json", "--max-tokens", "8"});
    ASSERT_EQ(second.exitCode, 0) << second.err;
    auto k = nlohmann::json::parse(second.out);
    EXPECT_EQ(k["state"], "restored");
    EXPECT_EQ(k["answer"], j["answer"]) << "the restored state answers as the rebuilt one";
    auto asOf = run({"ask", "How long?", "--collection", "case", "--document", id, "--as-of-page",
                     "1", "--json", "--max-tokens", "4"});
    ASSERT_EQ(asOf.exitCode, 0) << asOf.err;
    EXPECT_LT(nlohmann::json::parse(asOf.out)["state_tokens"].get<int64_t>(),
              j["state_tokens"].get<int64_t>());
}

TEST_F(AskCliTest, BadQuestionsAndNamesAreClearErrors) {
    struct Case {
        std::vector<std::string> args;
        int code;
        const char* says;
    };
    const Case cases[] = {
        {{"ask", "", "--collection", "case"}, 2, "the question is empty"},
        {{"ask", "bad \xff", "--collection", "case"}, 2, "not valid UTF-8"},
        {{"ask", std::string(70000, 'q'), "--collection", "case"}, 2, "limit"},
        {{"ask", "ok", "--collection", "nope"}, 1, "no collection named 'nope'"},
        {{"ask", "ok", "--collection", "case", "--document", "999"}, 1, "999"},
        {{"review", "--collection", "case", "--question", "ok", "--question", " "},
         2,
         "question 2"},
    };
    for (const Case& c : cases) {
        auto r = run(c.args);
        EXPECT_EQ(r.exitCode, c.code) << c.says << "\n" << r.err;
        EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
    }
}

TEST_F(AskCliTest, ReviewWritesCsvAndSurpriseGivesTheMap) {
    const std::string csv = (s.dir() / "review.csv").string();
    auto r = run({"review", "--collection", "case", "--question", "Who may terminate?", "--csv",
                  csv, "--max-tokens", "4"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    std::ifstream in(csv);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str().rfind("document_id,path,\"Q1 answer: Who may terminate?\"", 0), 0u)
        << text.str();
    EXPECT_NE(text.str().find("/lease.pdf"), std::string::npos);
    EXPECT_NE(text.str().find("/a.c"), std::string::npos);

    auto m = run({"surprise", "--collection", "case", "--document", std::to_string(doc), "--json",
                  "--top", "2"});
    ASSERT_EQ(m.exitCode, 0) << m.err;
    auto j = nlohmann::json::parse(m.out);
    EXPECT_TRUE(j["computed"].get<bool>());
    EXPECT_EQ(j["unit"], "sentence");
    EXPECT_EQ(j["pages"].size(), 2u);
    EXPECT_LE(j["top"].size(), 2u);
    EXPECT_GT(j["mean_bits"].get<double>(), 0.0);
    auto again =
        run({"surprise", "--collection", "case", "--document", std::to_string(doc), "--json"});
    ASSERT_EQ(again.exitCode, 0) << again.err;
    EXPECT_FALSE(nlohmann::json::parse(again.out)["computed"].get<bool>());
}

}  // namespace
}  // namespace lectern::services
