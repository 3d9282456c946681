// Bad PDFs cost one document, never the batch: truncation sweep (PDF-1), seeded garbage (PDF-2),
// hostile structures under a timeout and a memory limit (PDF-4), and a worker that crashes on
// page k (PDF-5). Each batch ends by extracting a good document through the same extractor.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <set>

#include "ingest/extractors/pdf_poppler.h"
#include "pdf_fixtures.h"

namespace lectern::testing {
namespace {

using ingest::ExtractStatus;
using Clock = std::chrono::steady_clock;

// Sets the worker's test hook for the lifetime of the guard.
struct TestHook {
    explicit TestHook(const char* value) { setenv("LECTERN_PDF_WORKER_TEST", value, 1); }
    ~TestHook() { unsetenv("LECTERN_PDF_WORKER_TEST"); }
};

class PdfRobustness : public ::testing::Test {
protected:
    void SetUp() override {
        good_ = dir / "good.pdf";
        writeFile(good_, makeTextPdf({"still working page one", "still working page two"}));
    }
    // The extractor must still serve a good document after whatever came before.
    void expectStillWorks() {
        const auto out = runExtractor(*extractor, good_);
        EXPECT_EQ(out.result.status, ExtractStatus::Ok) << out.result.message;
        EXPECT_EQ(out.pageText(2), "still working page two");
    }
    std::unique_ptr<ingest::Extractor> extractor = ingest::makePdfExtractor();
    TempDir dir;
    std::filesystem::path good_;
};

bool cleanOutcome(ExtractStatus s) {
    return s == ExtractStatus::Ok || s == ExtractStatus::Partial || s == ExtractStatus::Error ||
           s == ExtractStatus::NeedsPassword;
}

// PDF-1: every test PDF cut at 0, 1, 8, 1024 bytes, 25/50/75 %, size-1 and just before startxref.
TEST_F(PdfRobustness, TruncationSweep) {
    std::vector<std::pair<std::string, std::string>> sources = {
        {"text", makeTextPdf({"truncate me one", "truncate me two", "truncate me three"})},
        {"scan", makeScannedPdf({"TRUNCATED SCAN"})},
    };
    writeFile(dir / "plain.pdf", sources[0].second);
    if (qpdfEncrypt(dir / "plain.pdf", dir / "enc.pdf", "user", "owner", 256)) {
        sources.emplace_back("encrypted", readFile(dir / "enc.pdf"));
    }
    for (const auto& pdf : debianPdfs())
        sources.emplace_back(pdf.path.filename(), readFile(pdf.path));
    int files = 0, results = 0;
    for (const auto& [name, bytes] : sources) {
        const size_t n = bytes.size();
        std::set<size_t> cuts = {0, 1, 8, 1024, n / 4, n / 2, 3 * n / 4, n - 1};
        if (size_t sx = startxrefOffset(bytes); sx != std::string::npos && sx > 0)
            cuts.insert(sx - 1);
        for (size_t cut : cuts) {
            if (cut >= n) continue;
            const auto path = dir / (name + ".cut" + std::to_string(cut) + ".pdf");
            writeFile(path, bytes.substr(0, cut));
            ++files;
            const auto out = runExtractor(*extractor, path);
            ++results;
            EXPECT_TRUE(cleanOutcome(out.result.status))
                << path << ": " << statusName(out.result.status) << " " << out.result.message;
            if (out.result.status == ExtractStatus::Error) {
                EXPECT_TRUE(out.segments.empty()) << path;
            }
            if (out.result.status == ExtractStatus::Partial) {
                EXPECT_FALSE(out.result.message.empty()) << path;
            }
        }
    }
    EXPECT_EQ(results, files);
    EXPECT_GT(files, 30);
    expectStillWorks();
}

// PDF-2: 500 seeded files of "%PDF-1.7\n" and random bytes.
TEST_F(PdfRobustness, SeededGarbage) {
    std::mt19937 rng(20261122);
    std::uniform_int_distribution<int> length(0, 4096), byte(0, 255);
    int errors = 0;
    for (int i = 0; i < 500; ++i) {
        std::string bytes = "%PDF-1.7\n";
        for (int k = length(rng); k > 0; --k) bytes.push_back(char(byte(rng)));
        const auto path = dir / ("garbage" + std::to_string(i) + ".pdf");
        writeFile(path, bytes);
        const auto out = runExtractor(*extractor, path);
        ASSERT_TRUE(cleanOutcome(out.result.status))
            << path << ": " << statusName(out.result.status) << " " << out.result.message;
        errors += out.result.status == ExtractStatus::Error;
        std::filesystem::remove(path);
    }
    EXPECT_GT(errors, 450);  // random bytes hold no pages
    expectStillWorks();
}

// PDF-4: hostile structures end within the timeout as a clean status; the worker's memory is
// bounded by the limit (RLIMIT_AS, or the resident-size watch in sanitizer builds).
TEST_F(PdfRobustness, HostileStructures) {
    const std::vector<std::pair<std::string, std::string>> hostile = {
        {"flate_bomb_content", makeFlateBombContentPdf()},
        {"flate_bomb_font", makeFlateBombFontPdf()},
        {"count_2147483647", makeHugeCountPdf()},
        {"deep_nesting", makeDeepNestingPdf()},
        {"xref_loop", makeXrefLoopPdf()},
    };
    for (const auto& [name, bytes] : hostile) {
        EXPECT_LT(bytes.size(), 2u << 20) << name;  // the bombs are small on disk
        const auto path = dir / (name + ".pdf");
        writeFile(path, bytes);
        ingest::ExtractRequest request;
        request.path = path;
        request.timeoutSeconds = 4;
        request.memoryLimitBytes = int64_t(512) << 20;
        const auto start = Clock::now();
        const auto out = runExtractor(*extractor, request);
        const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
        std::printf("  %-20s %-12s %.2f s  %s\n", name.c_str(), statusName(out.result.status),
                    seconds, out.result.message.c_str());
        const auto s = out.result.status;
        EXPECT_TRUE(cleanOutcome(s) || s == ExtractStatus::Timeout ||
                    s == ExtractStatus::MemoryLimit)
            << name << ": " << statusName(s) << " " << out.result.message;
        // The limit is enforced, not hoped for: generous slack for a loaded 2-core machine.
        EXPECT_LT(seconds, request.timeoutSeconds + 10.0) << name;
    }
    expectStillWorks();
}

TEST_F(PdfRobustness, HangingWorkerTimesOut) {
    TestHook hook("hang@2");
    ingest::ExtractRequest request;
    request.path = good_;
    request.timeoutSeconds = 1;
    const auto out = runExtractor(*extractor, request);
    EXPECT_EQ(out.result.status, ExtractStatus::Timeout) << out.result.message;
    EXPECT_NE(out.result.message.find("at page 2 of " + good_.string()), std::string::npos)
        << out.result.message;
    EXPECT_EQ(out.segments.size(), 1u);  // page 1 arrived before the hang
    unsetenv("LECTERN_PDF_WORKER_TEST");
    expectStillWorks();
}

TEST_F(PdfRobustness, RunawayAllocationHitsTheMemoryLimit) {
    TestHook hook("hog@1");
    ingest::ExtractRequest request;
    request.path = good_;
    request.memoryLimitBytes = int64_t(384) << 20;
    request.timeoutSeconds = 30;
    const auto out = runExtractor(*extractor, request);
    EXPECT_EQ(out.result.status, ExtractStatus::MemoryLimit) << out.result.message;
    EXPECT_NE(out.result.message.find("384 MiB"), std::string::npos) << out.result.message;
    unsetenv("LECTERN_PDF_WORKER_TEST");
    expectStillWorks();
}

// PDF-5: a worker killed by SIGSEGV on page k costs that document only.
TEST_F(PdfRobustness, CrashOnPageIsContained) {
    writeFile(dir / "crash.pdf", makeTextPdf({"before the crash", "crash here", "never read"}));
    {
        TestHook hook("segv@2");
        const auto out = runExtractor(*extractor, dir / "crash.pdf");
        EXPECT_EQ(out.result.status, ExtractStatus::Crashed) << out.result.message;
        EXPECT_EQ(out.result.message,
                  "extractor crashed (signal 11) at page 2 of " + (dir / "crash.pdf").string());
        ASSERT_EQ(out.segments.size(), 1u);
        EXPECT_EQ(out.segments[0].text, "before the crash");
        // The batch goes on: the next documents crash the same way and are reported alike.
        for (int i = 0; i < 3; ++i) {
            EXPECT_EQ(runExtractor(*extractor, dir / "crash.pdf").result.status,
                      ExtractStatus::Crashed);
        }
    }
    expectStillWorks();
    const auto again = runExtractor(*extractor, dir / "crash.pdf");
    EXPECT_EQ(again.result.status, ExtractStatus::Ok) << again.result.message;
    EXPECT_EQ(again.segments.size(), 3u);
}

}  // namespace
}  // namespace lectern::testing
