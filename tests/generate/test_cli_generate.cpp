// lectern-cli generate and score on a golden model (byte-level ids, no tokenizer.json): the
// streamed text equals the library's generation, a saved state continues and another
// model's state is refused, and score --json agrees with generate::score.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "generate/generator.h"

namespace lectern {
namespace {

const std::string kCli = std::string(LECTERN_BINARY_DIR) + "/app/lectern-cli";
const std::string kCase = std::string(LECTERN_GOLDEN_DIR) + "/siso_tiny";

std::string tempDir() {
    char tmpl[] = "/tmp/lectern-cli-gen-XXXXXX";
    return ::mkdtemp(tmpl) ? tmpl : "/tmp";
}

// Runs lectern-cli with `args`; stdout goes to `out`, stderr to `err`. Returns the exit code.
int run(const std::string& dir, const std::string& args, std::string* out, std::string* err) {
    const int rc =
        std::system((kCli + " " + args + " > " + dir + "/out 2> " + dir + "/err").c_str());
    auto slurp = [](const std::string& p) {
        std::ifstream in(p, std::ios::binary);
        return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    };
    if (out) *out = slurp(dir + "/out");
    if (err) *err = slurp(dir + "/err");
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(CliGenerate, StreamsWhatTheLibraryGeneratesAndUsesStates) {
    if (!std::filesystem::exists(kCase)) GTEST_SKIP() << "no golden data";
    const std::string dir = tempDir();
    auto model = Model::load(kCase);
    ASSERT_TRUE(model) << model.error();
    auto libraryText = [&](const std::vector<int32_t>& ids, generate::GenerateOptions o) {
        Session s = model->newSession();
        EXPECT_TRUE(s.prefill(ids));
        o.history = ids;
        auto r = generate::generate(*model, s, o, generate::byteDecoder());
        EXPECT_TRUE(r) << r.error();
        return r ? r->text : std::string();
    };
    const std::vector<int32_t> ids = {'a', 'b', 'c'};
    generate::GenerateOptions o;
    o.maxTokens = 12;
    o.sampling = {.temperature = 0.7f, .topK = 30, .topP = 0.9f, .seed = 5};
    std::string out, err;
    ASSERT_EQ(
        run(dir,
            "generate --model " + kCase +
                " --prompt abc --max-tokens 12 --temperature 0.7 --top-k 30 --top-p 0.9 --seed 5 "
                "--state-out " +
                dir + "/s.state",
            &out, &err),
        0)
        << err;
    EXPECT_EQ(out, libraryText(ids, o) + "\n");
    EXPECT_NE(err.find("12 tokens"), std::string::npos) << err;

    // Continue the saved state greedily: the library does the same from prompt + output.
    ASSERT_EQ(run(dir,
                  "generate --model " + kCase + " --state-in " + dir +
                      "/s.state --prompt x --greedy --max-tokens 6",
                  &out, &err),
              0)
        << err;
    Session s = model->newSession();
    ASSERT_TRUE(s.prefill(ids));
    generate::GenerateOptions first = o;
    first.history = ids;
    auto r1 = generate::generate(*model, s, first, generate::byteDecoder());
    ASSERT_TRUE(r1);
    ASSERT_TRUE(s.prefill(std::vector<int32_t>{'x'}));
    generate::GenerateOptions greedy;
    greedy.sampling.greedy = true;
    greedy.maxTokens = 6;
    auto r2 = generate::generate(*model, s, greedy, generate::byteDecoder());
    ASSERT_TRUE(r2);
    EXPECT_EQ(out, r2->text + "\n");

    // Another model refuses the state; bad options are usage errors.
    const std::string other = std::string(LECTERN_GOLDEN_DIR) + "/mimo_tiny";
    EXPECT_EQ(run(dir, "generate --model " + other + " --state-in " + dir + "/s.state --prompt x",
                  &out, &err),
              1);
    EXPECT_NE(err.find("was made by model"), std::string::npos) << err;
    EXPECT_EQ(run(dir, "generate --model " + kCase + " --prompt x --top-p 0", &out, &err), 1);
    EXPECT_NE(err.find("top-p"), std::string::npos) << err;
    EXPECT_NE(run(dir, "generate --model " + kCase + " --prompt x --greedy --top-k 3", &out, &err),
              0);
    std::filesystem::remove_all(dir);
}

TEST(CliScore, JsonAgreesWithTheLibrary) {
    if (!std::filesystem::exists(kCase)) GTEST_SKIP() << "no golden data";
    const std::string dir = tempDir();
    const std::string text = "Surprisal of some bytes.\n";
    std::ofstream(dir + "/t.txt", std::ios::binary) << text;
    std::string out, err;
    ASSERT_EQ(run(dir, "score --model " + kCase + " --text " + dir + "/t.txt --json", &out, &err),
              0)
        << err;
    const auto j = nlohmann::json::parse(out);
    auto model = Model::load(kCase);
    ASSERT_TRUE(model);
    const std::vector<int32_t> ids(text.begin(), text.end());
    auto r = generate::score(*model, ids);
    ASSERT_TRUE(r);
    EXPECT_NEAR(j["total_bits"].get<double>(), r->totalBits, 1e-9);
    EXPECT_EQ(j["scored_tokens"].get<size_t>(), text.size() - 1);
    EXPECT_NEAR(j["bits_per_byte"].get<double>(), r->totalBits / double(text.size() - 1), 1e-9);
    ASSERT_EQ(j["tokens"].size(), text.size() - 1);
    EXPECT_NEAR(j["tokens"][0]["bits"].get<double>(), -r->logprob[0] / std::log(2.0), 1e-9);
    std::ofstream(dir + "/one.txt") << "x";
    EXPECT_EQ(run(dir, "score --model " + kCase + " --text " + dir + "/one.txt", &out, &err), 1);
    EXPECT_EQ(run(dir, "score --model " + kCase + " --text " + dir + "/missing.txt", &out, &err),
              1);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lectern
