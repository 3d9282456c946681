// lectern-cli's engine commands end to end: `logits` on a golden case writes logits and
// states that match the official reference; `model info` describes the model; bad
// arguments fail with a message and a non-zero exit code.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/safetensors.h"
#include "random_model.h"
#include "tensor_check.h"

namespace lectern {
namespace {

const std::string kCli = std::string(LECTERN_BINARY_DIR) + "/app/lectern-cli";
const std::string kCase = std::string(LECTERN_GOLDEN_DIR) + "/siso_tiny";

int run(const std::string& args, std::string* output = nullptr) {
    const std::string log = test::makeTempDir("lectern-cli") + "/out.txt";
    const int rc = std::system((kCli + " " + args + " > " + log + " 2>&1").c_str());
    if (output) {
        std::ifstream in(log);
        std::stringstream ss;
        ss << in.rdbuf();
        *output = ss.str();
    }
    std::filesystem::remove_all(std::filesystem::path(log).parent_path());
    return rc;
}

TEST(CliEngine, LogitsMatchGolden) {
    if (!std::filesystem::exists(kCase)) GTEST_SKIP() << "no golden data";
    const std::string dir = test::makeTempDir("lectern-cli-out");
    const std::string out = dir + "/out.safetensors";
    std::string text;
    ASSERT_EQ(
        run("logits --model " + kCase + " --ids " + kCase + "/io.safetensors --out " + out, &text),
        0)
        << text;
    auto ours = io::safetensorsRead(out);
    auto ref = io::safetensorsRead(kCase + "/io.safetensors");
    std::filesystem::remove_all(dir);
    ASSERT_TRUE(ours) << ours.error();
    ASSERT_TRUE(ref) << ref.error();
    for (const char* name :
         {"logits", "layers.0.ssm_state", "layers.1.k_state", "layers.1.v_state"}) {
        const auto& a = ours->tensors.at(name);
        const auto& b = ref->tensors.at(name);
        ASSERT_EQ(a.shape, b.shape) << name;
        auto fa = a.toFloat32(), fb = b.toFloat32();
        const auto e = test::compareRel(fa->data(), fb->data(), fa->size());
        std::printf("  %-20s %s\n", name, e.describe().c_str());
        EXPECT_TRUE(e.within(1e-4)) << name;
    }
}

TEST(CliEngine, ModelInfo) {
    if (!std::filesystem::exists(kCase)) GTEST_SKIP() << "no golden data";
    std::string text;
    ASSERT_EQ(run("model info " + kCase, &text), 0) << text;
    EXPECT_NE(text.find("Mamba-3 SISO"), std::string::npos) << text;
    EXPECT_NE(text.find("state / document  36352 bytes"), std::string::npos) << text;
}

TEST(CliEngine, BadInputFailsCleanly) {
    std::string text;
    EXPECT_NE(run("model info /nonexistent/model", &text), 0);
    EXPECT_NE(text.find("config.json"), std::string::npos) << text;
    EXPECT_NE(run("logits --model /nonexistent --ids x --out y", &text), 0);
    EXPECT_NE(run("logits --model " + kCase, &text), 0);  // missing --ids/--out: usage error
}

}  // namespace
}  // namespace lectern
