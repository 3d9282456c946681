// Windows that start at an example's start (ByteDataStream::fromFiles' windowStartAfter,
// `lectern-cli train --window-start-after`): in a file holding the byte, every window starts
// at the file's start or right after the byte, example starts are drawn by their examples'
// bytes (the file keeps its share of the windows), files without the byte keep random
// offsets (the same draws as without the option), and a saved position resumes exactly.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>

#include "training/data_stream.h"

namespace lectern {
namespace {

using train::ByteDataStream;
constexpr char kSep = '\x1e';

std::string writeFile(const std::string& name, const std::string& bytes) {
    const auto dir = std::filesystem::temp_directory_path() / "lectern_test_window_starts";
    std::filesystem::create_directories(dir);
    const std::string path = (dir / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

// Corpus text: random lowercase letters (8 of them in a row name their place).
std::string corpus(size_t n) {
    std::mt19937 rng(4);
    std::string s;
    for (size_t i = 0; i < n; ++i) s += char('a' + rng() % 26);
    return s;
}

// Examples of 20..300 bytes: 'E', digits, uppercase filler, the separator at the end.
std::string examples(int n) {
    std::mt19937 rng(5);
    std::string s;
    for (int k = 0; k < n; ++k) {
        std::string ex = "E" + std::to_string(k);
        const size_t len = 20 + rng() % 281;
        while (ex.size() + 1 < len) ex += char('A' + rng() % 26);
        s += ex + kSep;
    }
    return s;
}

struct Files {
    std::string corpusPath = writeFile("corpus.txt", corpus(40000));
    std::string examplesPath = writeFile("examples.txt", examples(300));
};

std::vector<int32_t> draw(ByteDataStream& s, int64_t batches, int64_t B, int64_t L) {
    std::vector<int32_t> all, out;
    for (int64_t i = 0; i < batches; ++i) {
        s.nextBatch(B, L, out);
        all.insert(all.end(), out.begin(), out.end());
    }
    return all;
}

TEST(WindowStarts, ExampleWindowsStartAtAnExampleAndKeepTheirShare) {
    Files f;
    const int64_t L = 64, B = 8, batches = 1000;
    auto s = ByteDataStream::fromFiles({f.corpusPath, f.examplesPath}, 0.1, 11, int(uint8_t(kSep)));
    ASSERT_TRUE(s) << s.error();
    // Each training part's example starts: those of the examples' first 90% of bytes.
    EXPECT_GT(s->exampleStarts(), 200);
    const std::vector<int32_t> w = draw(*s, batches, B, L);
    int64_t atExample = 0, inCorpus = 0, midExample = 0;
    std::set<std::string> corpusStarts;
    for (int64_t i = 0; i < batches * B; ++i) {
        const int32_t first = w[size_t(i * L)];
        if (first == 'E') {
            ++atExample;
        } else if (first >= 'a' && first <= 'z') {
            ++inCorpus;
            corpusStarts.insert(std::string(w.begin() + i * L, w.begin() + i * L + 8));
        } else {
            ++midExample;  // an uppercase letter, a digit or the separator: not aligned
        }
    }
    EXPECT_EQ(midExample, 0);
    // The examples' training bytes are ~45% of all (corpus 36,000 of 40,000; examples ~90% of
    // ~48,000): their windows' share follows their bytes, not their count (~4% by count).
    const double share = double(atExample) / double(batches * B);
    EXPECT_GT(share, 0.35);
    EXPECT_LT(share, 0.65);
    EXPECT_GT(corpusStarts.size(), 1000u);  // the corpus keeps random offsets
}

TEST(WindowStarts, WithoutTheByteWindowsStartAnywhere) {
    Files f;
    auto off = ByteDataStream::fromFiles({f.corpusPath, f.examplesPath}, 0.1, 11);
    ASSERT_TRUE(off);
    EXPECT_EQ(off->exampleStarts(), 0);
    const std::vector<int32_t> w = draw(*off, 200, 8, 64);
    int64_t midExample = 0;
    for (size_t i = 0; i < w.size(); i += 64) midExample += (w[i] >= 'A' && w[i] <= 'Z');
    EXPECT_GT(midExample, 100);  // the first test's check would catch these

    // A byte no file holds: the very draws of no option at all.
    auto absent = ByteDataStream::fromFiles({f.corpusPath, f.examplesPath}, 0.1, 11, 0x7f);
    ASSERT_TRUE(absent);
    EXPECT_EQ(absent->exampleStarts(), 0);
    EXPECT_EQ(draw(*absent, 200, 8, 64), w);
}

TEST(WindowStarts, ResumedPositionDrawsTheSameWindows) {
    Files f;
    const std::vector<std::string> paths{f.corpusPath, f.examplesPath};
    auto a = ByteDataStream::fromFiles(paths, 0.1, 3, int(uint8_t(kSep)));
    ASSERT_TRUE(a);
    draw(*a, 37, 4, 96);
    const std::string state = a->saveState();
    const std::vector<int32_t> rest = draw(*a, 50, 4, 96);
    auto b = ByteDataStream::fromFiles(paths, 0.1, 3, int(uint8_t(kSep)));
    ASSERT_TRUE(b);
    ASSERT_TRUE(b->loadState(state));
    EXPECT_EQ(draw(*b, 50, 4, 96), rest);
    EXPECT_EQ(b->drawn(), a->drawn());
}

TEST(WindowStarts, RejectsAByteOutOfRange) {
    Files f;
    EXPECT_FALSE(ByteDataStream::fromFiles({f.corpusPath}, 0.1, 1, 256));
}

}  // namespace
}  // namespace lectern
