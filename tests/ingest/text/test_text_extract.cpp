// The text-like extractors end to end on real files: TXT-2 (line numbers under every line
// ending and BOM equal an independent count), TXT-3 (stored NFC), TXT-5 (binary posing
// as text), Markdown sections, source languages and line ranges, the registry's choices,
// and the vanished / FIFO / unreadable cases of REPO-1 as extractors see them.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <map>

#include "ingest/extractors/file_input.h"
#include "ingest/extractors/source.h"
#include "ingest/extractors/text.h"
#include "ingest/ingest_test_util.h"

using namespace lectern::ingest;
using lectern::testing::runExtractor;
using lectern::testing::ScratchDir;
using lectern::testing::writeFile;

namespace {

// Independent line split of decoded ASCII/UTF-8 text: \r\n, \r and \n each end a line.
std::vector<std::string> splitLines(const std::string& s) {
    std::vector<std::string> lines;
    std::string cur;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r' || s[i] == '\n') {
            lines.push_back(cur);
            cur.clear();
            if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
        } else {
            cur += s[i];
        }
    }
    if (!cur.empty()) lines.push_back(cur);
    return lines;
}

// Rebuilds line number -> text from segments, checking ranges are contiguous.
std::map<int64_t, std::string> linesFromSegments(const std::vector<Segment>& segs) {
    std::map<int64_t, std::string> out;
    int64_t expectNext = 1;
    for (const Segment& s : segs) {
        EXPECT_LE(s.lineStart, expectNext);
        int64_t line = s.lineStart;
        size_t pos = 0;
        while (pos < s.text.size()) {
            const size_t nl = s.text.find('\n', pos);
            const size_t end = nl == std::string::npos ? s.text.size() : nl;
            out[line] += s.text.substr(pos, end - pos);
            if (nl == std::string::npos) break;
            pos = nl + 1;
            ++line;
        }
        expectNext = s.lineEnd + 1;
    }
    return out;
}

std::string utf16le(const std::u16string& s, bool bom) {
    std::string out = bom ? std::string("\xFF\xFE") : std::string();
    for (char16_t c : s) {
        out += char(c & 0xFF);
        out += char(c >> 8);
    }
    return out;
}

std::string utf16be(const std::u16string& s) {
    std::string out("\xFE\xFF");
    for (char16_t c : s) {
        out += char(c >> 8);
        out += char(c & 0xFF);
    }
    return out;
}

TEST(TextExtract, LineNumbersMatchAnIndependentCountForEveryEncoding) {
    ScratchDir dir("text");
    std::string body;
    for (int i = 1; i <= 700; ++i) {
        const char* ends[] = {"\n", "\r\n", "\r", "\n\n", "\r\r\n"};
        body += "line " + std::to_string(i) + " ok" + ends[i % 5];
    }
    body += "last line without end";
    const std::u16string wide(body.begin(), body.end());
    const std::map<std::string, std::string> files = {
        {"plain.txt", body},
        {"bom8.txt", "\xEF\xBB\xBF" + body},
        {"le.txt", utf16le(wide, true)},
        {"be.txt", utf16be(wide)},
        {"nuls.log",
         [&] {
             std::string b = body;
             b.insert(20, std::string(3, '\0'));
             return b;
         }()},
    };
    const std::vector<std::string> expected = splitLines(body);
    TextExtractor ex;
    for (const auto& [name, bytes] : files) {
        SCOPED_TRACE(name);
        writeFile(dir / name, bytes);
        const auto got = runExtractor(ex, dir / name);
        ASSERT_EQ(got.result.status, ExtractStatus::Ok) << got.result.message;
        EXPECT_EQ(got.result.meta.extra.at("lines"), std::to_string(expected.size()));
        const auto lines = linesFromSegments(got.segments);
        ASSERT_EQ(lines.size(), expected.size());
        for (size_t i = 0; i < expected.size(); ++i)
            EXPECT_EQ(lines.at(int64_t(i) + 1), expected[i]);
    }
}

TEST(TextExtract, StoredTextIsNfc) {
    ScratchDir dir("nfc");
    writeFile(dir / "nfd.txt",
              "Cafe\xCC\x81\n\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE6\x96\x87\n"
              "\xD8\xA7\xD9\x84\xD8\xB9\xD8\xB1\xD8\xA8\xD9\x8A\xD8\xA9\n");
    TextExtractor ex;
    const auto got = runExtractor(ex, dir / "nfd.txt");
    ASSERT_EQ(got.segments.size(), 1u);
    EXPECT_EQ(got.segments[0].text,
              "Caf\xC3\xA9\n\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE6\x96\x87\n"
              "\xD8\xA7\xD9\x84\xD8\xB9\xD8\xB1\xD8\xA8\xD9\x8A\xD8\xA9\n");
}

TEST(TextExtract, BinaryPosingAsTextIsSkippedWithTheReason) {
    ScratchDir dir("binary");
    const std::string png(
        "\x89PNG\r\n\x1A\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1F\x15\xC4\x89", 33);
    writeFile(dir / "photo.txt", png);
    std::filesystem::copy_file("/proc/self/exe", dir / "server.log");
    auto registry = makeDefaultExtractors();
    for (const auto& [name, what] :
         {std::pair{"photo.txt", "PNG"}, std::pair{"server.log", "ELF"}}) {
        const std::string head = readHead(dir / name);
        Extractor* chosen = nullptr;
        for (auto& e : registry) {
            if (e->accepts(dir / name, head)) {
                chosen = e.get();
                break;
            }
        }
        ASSERT_NE(chosen, nullptr);
        const auto got = runExtractor(*chosen, dir / name);
        EXPECT_EQ(got.result.status, ExtractStatus::SkippedBinary) << name;
        EXPECT_STREQ(extractStatusName(got.result.status), "skipped: binary");
        EXPECT_NE(got.result.message.find(what), std::string::npos) << got.result.message;
        EXPECT_NE(got.result.message.find(name), std::string::npos);
        EXPECT_TRUE(got.segments.empty());
    }
}

TEST(TextExtract, MarkdownHeadingsLabelSections) {
    ScratchDir dir("md");
    writeFile(dir / "notes.md",
              "intro\n# Title\ntext\n```\n# not a heading\n```\n## Part two ##\nmore\n");
    TextExtractor ex;
    const auto got = runExtractor(ex, dir / "notes.md");
    ASSERT_EQ(got.segments.size(), 3u);
    EXPECT_EQ(got.segments[0].label, "notes.md");
    EXPECT_EQ(got.segments[1].label, "# Title");
    EXPECT_EQ(got.segments[1].lineStart, 2);
    EXPECT_EQ(got.segments[1].lineEnd, 6);
    EXPECT_EQ(got.segments[2].label, "## Part two");
    EXPECT_EQ(got.segments[2].kind, SegmentKind::Section);
    EXPECT_EQ(got.segments[2].ordinal, 3);

    // Setext headings ("Title" over "===" / "---"); "---" after a blank line is a rule.
    writeFile(dir / "setext.md",
              "Intro line\n\nBig Title\n=========\nbody\n\n---\nSmall\n---\nend");
    const auto setext = runExtractor(ex, dir / "setext.md");
    ASSERT_EQ(setext.segments.size(), 3u);
    EXPECT_EQ(setext.segments[1].label, "# Big Title");
    EXPECT_EQ(setext.segments[1].lineStart, 3);
    EXPECT_EQ(setext.segments[1].lineEnd, 7);
    EXPECT_EQ(setext.segments[2].label, "## Small");
    EXPECT_EQ(setext.segments[2].lineStart, 8);
    EXPECT_EQ(setext.segments[2].text, "Small\n---\nend\n");
}

TEST(TextExtract, SourceKeepsLanguageAndExactLineRanges) {
    ScratchDir dir("src");
    std::string code;
    for (int i = 1; i <= 250; ++i)
        code += "int v" + std::to_string(i) + " = " + std::to_string(i) + ";\n";
    writeFile(dir / "main.cpp", code);
    SourceExtractor ex;
    const auto got = runExtractor(ex, dir / "main.cpp");
    EXPECT_EQ(got.result.meta.language, "C++");
    ASSERT_EQ(got.segments.size(), 3u);
    EXPECT_EQ(got.segments[1].lineStart, 101);
    EXPECT_EQ(got.segments[1].lineEnd, 200);
    EXPECT_EQ(got.segments[1].label, "lines 101-200");
    EXPECT_EQ(linesFromSegments(got.segments).at(137), "int v137 = 137;");
    EXPECT_EQ(languageForPath("CMakeLists.txt"), "CMake");
    EXPECT_EQ(languageForPath("x.py"), "Python");
    EXPECT_EQ(languageForPath("notes.txt"), "");
}

TEST(TextExtract, RegistryPicksByExtensionAndFallsBack) {
    auto registry = makeDefaultExtractors();
    auto pick = [&](const char* name, const std::string& head = "text") {
        for (auto& e : registry) {
            if (e->accepts(name, head)) return std::string(e->name());
        }
        return std::string("none");
    };
    EXPECT_EQ(pick("a.csv"), "csv");
    EXPECT_EQ(pick("a.jsonl"), "json");
    EXPECT_EQ(pick("m.eml"), "mail");
    EXPECT_EQ(pick("x.cpp"), "source");
    EXPECT_EQ(pick("CMakeLists.txt"), "source");
    EXPECT_EQ(pick("notes.md"), "text");
    EXPECT_EQ(pick("app.log.3"), "text");
    EXPECT_EQ(pick("weird.bin"), "fallback");
}

TEST(TextExtract, VanishedFifoAndUnreadableFilesAreStatusesNotHangs) {
    ScratchDir dir("odd");
    TextExtractor ex;
    auto gone = runExtractor(ex, dir / "deleted.txt");
    EXPECT_EQ(gone.result.status, ExtractStatus::Vanished);
    ASSERT_EQ(mkfifo((dir / "pipe.txt").c_str(), 0600), 0);
    auto fifo = runExtractor(ex, dir / "pipe.txt");  // must not block waiting for a writer
    EXPECT_EQ(fifo.result.status, ExtractStatus::Error);
    EXPECT_NE(fifo.result.message.find("not a regular file"), std::string::npos);
    writeFile(dir / "secret.txt", "hidden");
    setOpenFailureHookForTesting(
        [](const std::filesystem::path& p) { return p.filename() == "secret.txt" ? EACCES : 0; });
    auto denied = runExtractor(ex, dir / "secret.txt");
    setOpenFailureHookForTesting(nullptr);
    EXPECT_EQ(denied.result.status, ExtractStatus::Error);
    EXPECT_NE(denied.result.message.find("Permission denied"), std::string::npos);
    EXPECT_NE(denied.result.message.find("secret.txt"), std::string::npos);
}

}  // namespace
