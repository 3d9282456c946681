// Bad model folders and bad tokens give clear errors, never a crash: config.json with
// missing, negative, huge or unsupported fields (attention layers, other mixers), weights
// missing, extra or shaped differently from what config.json implies (RELIABILITY MOD-1
// "missing or extra tensor", MOD-6 config checks).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "io/safetensors.h"
#include "lectern/engine.h"
#include "model/config.h"
#include "random_model.h"

namespace lectern {
namespace {

std::string loadError(const std::string& dir) {
    auto m = Model::load(dir);
    return m ? std::string() : m.error();
}

class BadModel : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = test::makeTempDir("lectern-bad");
        ASSERT_TRUE(test::writeRandomModel(dir_, spec_, 7));
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    void writeConfig(const std::string& text) { std::ofstream(dir_ + "/config.json") << text; }
    void rewriteWeights(const std::function<void(io::TensorMap&)>& edit) {
        auto w = test::randomWeights(spec_, 7);
        ASSERT_TRUE(w);
        edit(*w);
        ASSERT_TRUE(io::safetensorsWrite(dir_ + "/model.safetensors", *w));
    }
    std::string dir_;
    test::RandomModelSpec spec_;
};

TEST_F(BadModel, LoadsWhenIntact) {
    EXPECT_EQ(loadError(dir_), "");
}

TEST_F(BadModel, MissingTensorIsNamed) {
    rewriteWeights([](io::TensorMap& m) { m.erase("backbone.layers.1.mixer.dt_bias"); });
    const std::string e = loadError(dir_);
    std::printf("%s\n", e.c_str());
    EXPECT_NE(e.find("missing tensor 'backbone.layers.1.mixer.dt_bias'"), std::string::npos) << e;
}

TEST_F(BadModel, ExtraTensorIsNamed) {
    rewriteWeights([](io::TensorMap& m) {
        m["backbone.layers.9.mixer.D"] = io::RawTensor::fromFloat32({1.0f}, {1});
    });
    const std::string e = loadError(dir_);
    std::printf("%s\n", e.c_str());
    EXPECT_NE(e.find("unexpected tensor 'backbone.layers.9.mixer.D'"), std::string::npos) << e;
}

TEST_F(BadModel, ShapeDisagreeingWithConfigIsNamed) {
    test::RandomModelSpec other = spec_;
    other.dState = 16;  // config says 16, weights were made for 32
    writeConfig(test::randomConfigJson(other));
    const std::string e = loadError(dir_);
    std::printf("%s\n", e.c_str());
    EXPECT_NE(e.find("has shape"), std::string::npos) << e;
    EXPECT_NE(e.find("config.json implies"), std::string::npos) << e;
}

TEST_F(BadModel, MissingConfigIsNamed) {
    std::filesystem::remove(dir_ + "/config.json");
    EXPECT_NE(loadError(dir_).find("config.json: cannot open"), std::string::npos);
}

TEST_F(BadModel, MissingWeightsAreReported) {
    std::filesystem::remove(dir_ + "/model.safetensors");
    EXPECT_NE(loadError(dir_), "");
}

struct ConfigCase {
    const char* what;
    const char* json;
    const char* expect;  // a piece of the message
};

class BadConfig : public ::testing::TestWithParam<ConfigCase> {};

TEST_P(BadConfig, ClearError) {
    const ConfigCase& c = GetParam();
    auto cfg = model::configParse(c.json, "config.json");
    ASSERT_FALSE(cfg) << c.what;
    std::printf("%-22s -> %s\n", c.what, cfg.error().c_str());
    EXPECT_NE(cfg.error().find(c.expect), std::string::npos) << cfg.error();
}

#define SSM "\"ssm_cfg\": {\"layer\": \"Mamba3\", \"d_state\": 16, \"headdim\": 8}"
const ConfigCase kConfigCases[] = {
    {"not json", "{\"d_model\": ", "not valid JSON"},
    {"not an object", "[1, 2]", "JSON object"},
    {"no d_model", "{\"n_layer\": 2, \"vocab_size\": 10, " SSM "}", "'d_model' is missing"},
    {"no n_layer", "{\"d_model\": 16, \"vocab_size\": 10, " SSM "}", "'n_layer' is missing"},
    {"no vocab", "{\"d_model\": 16, \"n_layer\": 2, " SSM "}", "'vocab_size' is missing"},
    {"no ssm_cfg", "{\"d_model\": 16, \"n_layer\": 2, \"vocab_size\": 10}", "'ssm_cfg' is missing"},
    {"negative d_model", "{\"d_model\": -16, \"n_layer\": 2, \"vocab_size\": 10, " SSM "}",
     "outside"},
    {"huge d_model", "{\"d_model\": 1000000000000, \"n_layer\": 2, \"vocab_size\": 10, " SSM "}",
     "outside"},
    {"string d_model", "{\"d_model\": \"16\", \"n_layer\": 2, \"vocab_size\": 10, " SSM "}",
     "integer"},
    {"Mamba2 layer",
     "{\"d_model\": 16, \"n_layer\": 2, \"vocab_size\": 10, \"ssm_cfg\": {\"layer\": \"Mamba2\"}}",
     "only Mamba3"},
    {"attention layers",
     "{\"d_model\": 16, \"n_layer\": 2, \"vocab_size\": 10, \"attn_layer_idx\": [1], " SSM "}",
     "attention"},
    {"headdim not dividing",
     "{\"d_model\": 16, \"n_layer\": 2, \"vocab_size\": 10, \"ssm_cfg\": {\"layer\": \"Mamba3\", "
     "\"headdim\": 7}}",
     "not a multiple of headdim"},
    {"groups not dividing",
     "{\"d_model\": 16, \"n_layer\": 2, \"vocab_size\": 10, \"ssm_cfg\": {\"layer\": \"Mamba3\", "
     "\"headdim\": 8, \"ngroups\": 3}}",
     "ngroups"},
    {"rope_fraction 0.25",
     "{\"d_model\": 16, \"n_layer\": 2, \"vocab_size\": 10, \"ssm_cfg\": {\"layer\": \"Mamba3\", "
     "\"headdim\": 8, \"rope_fraction\": 0.25}}",
     "0.5 or 1.0"},
    {"layer norm",
     "{\"d_model\": 16, \"n_layer\": 2, \"vocab_size\": 10, \"rms_norm\": false, " SSM "}",
     "LayerNorm"},
    {"huge d_state",
     "{\"d_model\": 16, \"n_layer\": 2, \"vocab_size\": 10, \"ssm_cfg\": {\"layer\": \"Mamba3\", "
     "\"d_state\": 100000}}",
     "d_state"},
};
#undef SSM

INSTANTIATE_TEST_SUITE_P(Cases, BadConfig, ::testing::ValuesIn(kConfigCases));

TEST(BadTokens, OutOfVocabularyIsAnError) {
    const std::string dir = test::makeTempDir("lectern-tok");
    ASSERT_TRUE(test::writeRandomModel(dir, {}, 3));
    auto m = Model::load(dir);
    std::filesystem::remove_all(dir);
    ASSERT_TRUE(m) << m.error();
    Session s = m->newSession();
    const int32_t bad[] = {1, 2, 100000};
    Status st = s.prefill(bad);
    EXPECT_FALSE(st);
    EXPECT_NE(st.message().find("position 2"), std::string::npos) << st.message();
    EXPECT_EQ(s.position(), 0);  // nothing was read
    EXPECT_FALSE(s.step(-1));
}

}  // namespace
}  // namespace lectern
