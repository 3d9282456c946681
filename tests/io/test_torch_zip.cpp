// Tests of the torch.save zip reader and the restricted unpickler: the golden
// pytorch_model.bin files equal model.safetensors tensor by tensor (MOD-5), and the
// committed malicious pickles (MOD-2) and hostile zips (MOD-3) are refused with a clear
// error and nothing written (tests/io/data/make_bad_inputs.py generated them).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "io/restricted_unpickler.h"
#include "io/safetensors.h"
#include "io/torch_zip_reader.h"
#include "io/zip_reader.h"

using namespace lectern::io;
namespace fs = std::filesystem;

namespace {

const fs::path kData = fs::path(LECTERN_SOURCE_DIR) / "tests/io/data";

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

lectern::Expected<PickledStateDict> unpickleFile(const std::string& stem) {
    const std::string bytes = slurp(kData / "pickles" / (stem + ".pkl"));
    EXPECT_FALSE(bytes.empty()) << stem;
    return unpickleStateDict(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), stem);
}

}  // namespace

TEST(TorchZip, GoldenBinEqualsSafetensorsTensorByTensor) {
    int cases = 0;
    for (const char* c : {"siso_tiny", "mimo_tiny"}) {
        const fs::path dir = fs::path(LECTERN_GOLDEN_DIR) / c;
        if (!fs::exists(dir / "pytorch_model.bin")) continue;
        auto bin = torchReadStateDict((dir / "pytorch_model.bin").string());
        ASSERT_TRUE(bin) << bin.error();
        auto st = safetensorsRead((dir / "model.safetensors").string());
        ASSERT_TRUE(st) << st.error();
        // The .bin holds lm_head.weight too; safetensors records it as an alias instead.
        ASSERT_EQ(bin->size(), st->tensors.size() + st->metadata.count("lm_head.weight")) << c;
        for (const auto& [name, t] : *bin) {
            auto alias = st->metadata.find(name);
            const std::string stName =
                st->tensors.count(name) || alias == st->metadata.end() ? name : alias->second;
            ASSERT_TRUE(st->tensors.count(stName)) << c << ": " << name;
            const RawTensor& u = st->tensors.at(stName);
            EXPECT_EQ(t.dtype, u.dtype) << name;
            EXPECT_EQ(t.shape, u.shape) << name;
            EXPECT_TRUE(t.bytes == u.bytes) << c << ": bytes of " << name << " differ";
        }
        EXPECT_TRUE(bin->at("lm_head.weight").bytes == bin->at("backbone.embedding.weight").bytes);
        ++cases;
    }
    if (cases == 0) GTEST_SKIP() << "no golden pytorch_model.bin at " << LECTERN_GOLDEN_DIR;
}

TEST(TorchZip, GoodHandmadeArchiveLoads) {
    const std::string bytes = slurp(kData / "zips/good.zip");
    auto r =
        torchParseStateDict(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "good");
    ASSERT_TRUE(r) << r.error();
    ASSERT_EQ(r->count("w"), 1u);
    EXPECT_EQ(r->at("w").shape, (std::vector<int64_t>{2, 2}));
    auto f = r->at("w").toFloat32();
    ASSERT_TRUE(f);
    EXPECT_EQ(*f, (std::vector<float>{1, 2, 3, 4}));
}

// MOD-2: each malicious pickle is refused, and the message says what was refused.
TEST(RestrictedUnpickler, RefusesMaliciousPickles) {
    auto good = unpickleFile("good_state_dict");
    ASSERT_TRUE(good) << good.error();
    EXPECT_EQ(good->tensors.size(), 1u);
    const std::pair<const char*, const char*> cases[] = {
        {"global_posix_system", "global posix.system is not allowed"},
        {"global_builtins_eval", "global builtins.eval is not allowed"},
        {"global_builtins_exec", "global builtins.exec is not allowed"},
        {"newobj_subprocess_popen", "global subprocess.Popen is not allowed"},
        {"stack_global_os_system", "global os.system is not allowed"},
        {"build_on_non_tensor", "BUILD on a str"},
        {"setitem_on_list", "SETITEM(S) on a list"},
        {"persid_not_storage", "persistent id is not a ('storage'"},
        {"memo_index_out_of_range", "memo index 7 was never stored"},
        {"long_binget_out_of_range", "memo index 2147483647 was never stored"},
        {"stack_underflow", "stack underflow"},
        {"nested_marks", "MARKs nested too deeply"},
        {"protocol5", "pickle protocol 5 is not supported"},
        {"protocol5_opcode_in_proto2", "opcode 0x97 is not allowed"},
        {"binunicode_4gb_length", "truncated: needs 4294967295 more bytes"},
        {"truncated", "GLOBAL name missing its newline"},
        {"no_stop", "pickle ends without STOP"},
        {"not_a_dict", "not a state dict"},
        {"non_contiguous", "not contiguous"},
        {"tensor_past_storage", "lies outside storage '0'"},
        {"value_not_tensor", "entry 'w' is a int, not a tensor"},
        {"duplicate_name", "names 'w' twice"},
        {"invalid_utf8_name", "not valid UTF-8"},
    };
    for (const auto& [stem, expected] : cases) {
        auto r = unpickleFile(stem);
        ASSERT_FALSE(r) << stem;
        EXPECT_NE(r.error().find(expected), std::string::npos) << stem << ": " << r.error();
        EXPECT_EQ(r.error().rfind(std::string(stem) + ": byte ", 0), 0u) << r.error();
    }
}

// MOD-3: hostile containers give clean errors and nothing is written anywhere.
TEST(TorchZip, RefusesHostileContainersWithoutWriting) {
    // The reader has no output path; a fresh TMPDIR also stays empty.
    const fs::path watched =
        fs::temp_directory_path() / ("lectern_zip_" + std::to_string(::getpid()));
    fs::create_directories(watched);
    const char* oldTmp = std::getenv("TMPDIR");
    const std::string saved = oldTmp ? oldTmp : "";
    ::setenv("TMPDIR", watched.c_str(), 1);
    const std::pair<const char*, const char*> cases[] = {
        {"name_dotdot", "unsafe entry name"},
        {"name_absolute", "unsafe entry name"},
        {"name_backslash", "unsafe entry name"},
        {"name_drive", "unsafe entry name"},
        {"duplicate_entry", "duplicate entry \"archive/data/0\""},
        {"local_header_disagrees", "local header disagrees"},
        {"size_past_eof", "declared size runs past"},
        {"deflated", "only stored entries are supported"},
        {"storage_numel_too_large", "storage '0' declares 4 elements of F32 but its entry holds 8"},
        {"crc_mismatch", "CRC-32 mismatch"},
        {"global_in_zip", "global posix.system is not allowed"},
    };
    for (const auto& [stem, expected] : cases) {
        const std::string bytes = slurp(kData / "zips" / (std::string(stem) + ".zip"));
        ASSERT_FALSE(bytes.empty()) << stem;
        auto r =
            torchParseStateDict(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), stem);
        ASSERT_FALSE(r) << stem;
        EXPECT_NE(r.error().find(expected), std::string::npos) << stem << ": " << r.error();
        EXPECT_EQ(r.error().rfind(stem, 0), 0u) << r.error();
    }
    if (oldTmp) {
        ::setenv("TMPDIR", saved.c_str(), 1);
    } else {
        ::unsetenv("TMPDIR");
    }
    EXPECT_TRUE(fs::is_empty(watched));
    fs::remove_all(watched);
}

TEST(TorchZip, EveryTruncationOfAGoldenBinFailsCleanly) {
    const std::string bytes = slurp(fs::path(LECTERN_GOLDEN_DIR) / "siso_tiny/pytorch_model.bin");
    if (bytes.empty()) GTEST_SKIP() << "no golden data";
    for (size_t cut = 0; cut < bytes.size(); cut += 1013) {
        auto r = torchParseStateDict(reinterpret_cast<const uint8_t*>(bytes.data()), cut, "bin");
        EXPECT_FALSE(r) << "cut at " << cut;
    }
}

TEST(ZipReader, Crc32MatchesKnownValue) {
    const std::string s = "123456789";
    EXPECT_EQ(crc32Update(0, reinterpret_cast<const uint8_t*>(s.data()), s.size()), 0xcbf43926u);
}
