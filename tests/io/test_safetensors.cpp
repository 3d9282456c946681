// Tests of the safetensors reader and writer: the golden files, a write/read round trip,
// sharded sets, and the handcrafted bad-header corpus of RELIABILITY.md MOD-1 (one
// distinct error code per case, a message naming the file and, where one exists, the tensor).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "io/safetensors.h"

using namespace lectern::io;
namespace fs = std::filesystem;

namespace {

std::string makeFile(const std::string& header, const std::string& buffer) {
    std::string out;
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i, n >>= 8) out.push_back(char(n & 0xff));
    return out + header + buffer;
}

SafetensorsError parseCode(const std::string& bytes, std::string* message = nullptr) {
    SafetensorsError code = SafetensorsError::None;
    auto r = safetensorsParse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x.st",
                              &code);
    if (message) *message = r ? "" : r.error();
    EXPECT_EQ(r.hasValue(), code == SafetensorsError::None);
    return code;
}

fs::path tempDir(const std::string& name) {
    fs::path dir =
        fs::temp_directory_path() / ("lectern_test_st_" + name + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

}  // namespace

TEST(Safetensors, ReadsEveryGoldenFile) {
    int files = 0;
    for (const char* c : {"siso_tiny", "siso_mlp_norm", "mimo_tiny", "mimo_norm"}) {
        for (const char* f : {"model.safetensors", "io.safetensors"}) {
            const fs::path path = fs::path(LECTERN_GOLDEN_DIR) / c / f;
            if (!fs::exists(path)) continue;
            auto r = safetensorsRead(path.string());
            ASSERT_TRUE(r) << r.error();
            EXPECT_FALSE(r->tensors.empty());
            for (const auto& [name, t] : r->tensors) {
                EXPECT_EQ(uint64_t(t.numel()) * dtypeSize(t.dtype), t.bytes.size()) << name;
            }
            ++files;
        }
    }
    if (files == 0) GTEST_SKIP() << "no golden data at " << LECTERN_GOLDEN_DIR;
    auto tied =
        safetensorsRead((fs::path(LECTERN_GOLDEN_DIR) / "siso_tiny/model.safetensors").string());
    ASSERT_TRUE(tied) << tied.error();
    EXPECT_EQ(tied->metadata["lm_head.weight"], "backbone.embedding.weight");
    EXPECT_EQ(tied->tensors.count("lm_head.weight"), 0u);
    const RawTensor& emb = tied->tensors.at("backbone.embedding.weight");
    EXPECT_EQ(emb.dtype, DType::F32);
    EXPECT_EQ(emb.shape, (std::vector<int64_t>{256, 64}));
}

TEST(Safetensors, WriteReadRoundTripIsExact) {
    TensorMap tensors;
    tensors["a.weight"] = RawTensor::fromFloat32({1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f}, {2, 3});
    tensors["ids"] = RawTensor::fromInt32({1, 2, 3}, {3});
    RawTensor half;
    half.dtype = DType::BF16;
    half.shape = {2};
    half.bytes = {0x80, 0x3f, 0x00, 0xc0};  // 1.0, -2.0
    tensors["h"] = half;
    tensors["empty"] = RawTensor::fromFloat32({}, {0, 4});
    const fs::path dir = tempDir("rt");
    const std::string path = (dir / "m.safetensors").string();
    ASSERT_TRUE(safetensorsWrite(path, tensors, {{"lm_head.weight", "a.weight"}}));
    auto r = safetensorsRead(path);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->metadata.at("lm_head.weight"), "a.weight");
    ASSERT_EQ(r->tensors.size(), tensors.size());
    for (const auto& [name, t] : tensors) {
        const RawTensor& u = r->tensors.at(name);
        EXPECT_EQ(u.dtype, t.dtype) << name;
        EXPECT_EQ(u.shape, t.shape) << name;
        EXPECT_EQ(u.bytes, t.bytes) << name;
    }
    auto f = r->tensors.at("h").toFloat32();
    ASSERT_TRUE(f);
    EXPECT_EQ(*f, (std::vector<float>{1.0f, -2.0f}));
    // Only the file itself remains: the temp file was renamed, not left beside it.
    EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
    fs::remove_all(dir);
}

TEST(Safetensors, WriteRefusesInconsistentTensorAndLeavesNoFile) {
    TensorMap tensors;
    RawTensor bad = RawTensor::fromFloat32({1, 2, 3}, {2, 2});
    tensors["bad"] = bad;
    const fs::path dir = tempDir("bad");
    lectern::Status s = safetensorsWrite((dir / "m.safetensors").string(), tensors);
    EXPECT_FALSE(s);
    EXPECT_NE(s.message().find("bad"), std::string::npos) << s.message();
    EXPECT_TRUE(fs::is_empty(dir));
    fs::remove_all(dir);
}

TEST(Safetensors, ShardedSetLoadsThroughIndex) {
    const fs::path dir = tempDir("shard");
    TensorMap a, b;
    a["x"] = RawTensor::fromFloat32({1, 2}, {2});
    a["w"] = RawTensor::fromFloat32({5}, {1});
    b["y"] = RawTensor::fromFloat32({3}, {1});
    ASSERT_TRUE(safetensorsWrite((dir / "model-00001-of-00002.safetensors").string(), a));
    ASSERT_TRUE(safetensorsWrite((dir / "model-00002-of-00002.safetensors").string(), b));
    auto writeIndex = [&](const std::string& json) {
        std::ofstream(dir / "model.safetensors.index.json") << json;
    };
    writeIndex(
        R"({"metadata":{"total_size":16},"weight_map":{"x":"model-00001-of-00002.safetensors",
                 "w":"model-00001-of-00002.safetensors","y":"model-00002-of-00002.safetensors"}})");
    auto r = safetensorsReadModel(dir.string());
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->tensors.size(), 3u);
    EXPECT_EQ(r->tensors.at("y").bytes.size(), 4u);

    SafetensorsError code;
    writeIndex(
        R"({"weight_map":{"x":"model-00001-of-00002.safetensors","w":"model-00001-of-00002.safetensors",
                 "y":"model-00002-of-00002.safetensors","z":"model-00002-of-00002.safetensors"}})");
    r = safetensorsReadModel(dir.string(), &code);
    ASSERT_FALSE(r);
    EXPECT_EQ(code, SafetensorsError::MissingTensor);
    EXPECT_NE(r.error().find("'z'"), std::string::npos) << r.error();

    writeIndex(R"({"weight_map":{"x":"model-00001-of-00002.safetensors"}})");
    EXPECT_FALSE(safetensorsReadModel(dir.string(), &code));
    EXPECT_EQ(code, SafetensorsError::ExtraTensor);

    writeIndex(R"({"weight_map":{"x":"../model-00001-of-00002.safetensors"}})");
    EXPECT_FALSE(safetensorsReadModel(dir.string(), &code));
    EXPECT_EQ(code, SafetensorsError::BadIndex);
    fs::remove_all(dir);
}

// MOD-1: each handcrafted header gives its own error code and names the file.
TEST(Safetensors, HandcraftedBadHeadersGiveDistinctCodes) {
    const std::string t8(8, '\0');
    const std::string okEntry = R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
    struct Case {
        const char* what;
        std::string bytes;
        SafetensorsError code;
        const char* tensor;  // must appear in the message, if set
    };
    std::string huge(8, '\0');
    huge[1] = 1;  // a 256-byte header in a 10-byte file
    std::string over100mb(8, '\0');
    over100mb[3] = 0x07;  // 117 MB
    const std::vector<Case> cases = {
        {"4-byte file", "abcd", SafetensorsError::TooShort, nullptr},
        {"header length 0", makeFile("", t8), SafetensorsError::HeaderEmpty, nullptr},
        {"header length past the end", huge + "{}", SafetensorsError::HeaderPastEnd, nullptr},
        {"header length > 100 MB", over100mb, SafetensorsError::HeaderTooLarge, nullptr},
        {"first byte not {", makeFile(" {}", ""), SafetensorsError::HeaderStart, nullptr},
        {"invalid JSON", makeFile("{\"t\":", ""), SafetensorsError::InvalidJson, nullptr},
        {"duplicate key", makeFile("{" + okEntry + "," + okEntry + "}", t8),
         SafetensorsError::DuplicateKey, "\"t\""},
        {"non-string metadata", makeFile(R"({"__metadata__":{"a":1}})", ""),
         SafetensorsError::BadMetadata, nullptr},
        {"entry not an object", makeFile(R"({"t":5})", ""), SafetensorsError::NotObject, "'t'"},
        {"missing dtype", makeFile(R"({"t":{"shape":[2],"data_offsets":[0,8]}})", t8),
         SafetensorsError::BadEntry, "'t'"},
        {"unknown dtype", makeFile(R"({"t":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", t8),
         SafetensorsError::UnknownDtype, "'t'"},
        {"negative dim", makeFile(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", t8),
         SafetensorsError::BadShape, "'t'"},
        {"shape overflows 2^64",
         makeFile(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
                  t8),
         SafetensorsError::ShapeOverflow, "'t'"},
        {"end < begin", makeFile(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", t8),
         SafetensorsError::BadOffsets, "'t'"},
        {"offset past EOF",
         makeFile(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", t8),
         SafetensorsError::OffsetPastEnd, "'t'"},
        {"nbytes not matching",
         makeFile(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", t8),
         SafetensorsError::SizeMismatch, "'t'"},
        {"overlap",
         makeFile(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                  R"("u":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                  t8),
         SafetensorsError::Overlap, "'u'"},
        {"hole", makeFile(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", t8),
         SafetensorsError::Hole, "'t'"},
        {"trailing bytes", makeFile("{" + okEntry + "}", t8 + "xx"),
         SafetensorsError::TrailingBytes, nullptr},
    };
    std::set<SafetensorsError> seen;
    for (const Case& c : cases) {
        std::string message;
        const SafetensorsError code = parseCode(c.bytes, &message);
        EXPECT_EQ(code, c.code) << c.what << ": got " << safetensorsErrorName(code) << ": "
                                << message;
        EXPECT_EQ(message.rfind("x.st: ", 0), 0u) << c.what << ": " << message;
        if (c.tensor) {
            EXPECT_NE(message.find(c.tensor), std::string::npos) << c.what << ": " << message;
        }
        seen.insert(code);
    }
    EXPECT_EQ(seen.size(), cases.size());
}

TEST(Safetensors, AcceptsMinimalValidFiles) {
    EXPECT_EQ(parseCode(makeFile("{}", "")), SafetensorsError::None);
    EXPECT_EQ(parseCode(makeFile(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}   )",
                                 std::string(8, '\0'))),
              SafetensorsError::None);
    EXPECT_EQ(parseCode(makeFile(R"({"z":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}})", "")),
              SafetensorsError::None);
}

// MOD-4: cut the file at every tensor boundary and at 50 random offsets; every cut fails.
TEST(Safetensors, EveryTruncationOfAGoldenFileFailsCleanly) {
    const fs::path path = fs::path(LECTERN_GOLDEN_DIR) / "mimo_norm/model.safetensors";
    std::ifstream in(path, std::ios::binary);
    if (!in) GTEST_SKIP() << "no golden data";
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto full = safetensorsParse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "m");
    ASSERT_TRUE(full) << full.error();
    uint64_t headerLen = 0;
    std::memcpy(&headerLen, bytes.data(), 8);
    const auto header = nlohmann::json::parse(bytes.substr(8, size_t(headerLen)));
    std::set<size_t> cuts = {0, 1, 7, 8, 9, size_t(headerLen) + 7, size_t(headerLen) + 8};
    for (const auto& [name, entry] : header.items()) {
        if (name == "__metadata__") continue;
        for (uint64_t offset : entry["data_offsets"]) cuts.insert(size_t(8 + headerLen + offset));
    }
    const unsigned seed = std::random_device{}();
    std::printf("random seed %u\n", seed);
    std::mt19937 rng(seed);
    for (int k = 0; k < 50; ++k) cuts.insert(rng() % bytes.size());
    cuts.erase(bytes.size());
    EXPECT_GT(cuts.size(), 50u);
    for (size_t cut : cuts) {
        SafetensorsError code = SafetensorsError::None;
        auto r = safetensorsParse(reinterpret_cast<const uint8_t*>(bytes.data()), cut, "m", &code);
        EXPECT_FALSE(r) << "cut at " << cut << " (seed " << seed << ")";
        EXPECT_NE(code, SafetensorsError::None);
    }
}

// Hostile headers are refused while parsing, before a large tree is built.
TEST(Safetensors, DeepOrLongHeadersAreRefusedEarly) {
    std::string message;
    EXPECT_EQ(parseCode(makeFile(R"({"t":{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]}})",
                                 std::string(8, '\0')),
                        &message),
              SafetensorsError::NotObject)
        << message;
    std::string longShape = R"({"t":{"dtype":"U8","shape":[)";
    for (int k = 0; k < 100000; ++k) longShape += "1,";
    longShape += R"(1],"data_offsets":[0,1]}})";
    EXPECT_EQ(parseCode(makeFile(longShape, "x"), &message), SafetensorsError::BadShape) << message;
}
