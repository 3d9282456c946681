// The ingest pipeline on real files: incremental runs (unchanged, changed, removed),
// content stored once, bad files recorded without stopping the rest, a large document
// streamed in chunks and replaced atomically, and cancel keeping what was committed.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>

#include "pipeline/pipeline.h"
#include "store.h"

using namespace lectern;
using namespace lectern::ingest;
namespace fs = std::filesystem;

namespace {

void writeFile(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
}

class PipelineTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "lectern-pipeline.XXXXXX").string();
        ASSERT_TRUE(mkdtemp(pattern.data()));
        root = pattern;
        corpus = root / "corpus";
        fs::create_directories(corpus);
    }
    void TearDown() override { fs::remove_all(root); }

    IngestSummary ingest(const std::atomic<bool>* cancel = nullptr,
                         std::function<void(const CommittedDocument&)> committed = {}) {
        IngestOptions options;
        options.storeDir = root / "store";
        options.collection = "c";
        options.paths = {corpus};
        options.extractThreads = 2;
        options.chunkBytes = chunkBytes;
        options.maxTransactionSeconds = maxTransactionSeconds;
        options.commitDelayMs = commitDelayMs;
        options.cancel = cancel;
        options.committed = std::move(committed);
        Expected<IngestSummary> summary = runIngest(options);
        EXPECT_TRUE(summary) << summary.error();
        return summary ? *summary : IngestSummary{};
    }
    std::unique_ptr<store::Store> open() {
        Expected<std::unique_ptr<store::Store>> s = store::Store::open(root / "store");
        EXPECT_TRUE(s) << s.error();
        return s ? std::move(*s) : nullptr;
    }
    std::vector<std::string> find(const std::string& query) {
        auto s = open();
        store::SearchRequest request{"c", query, 100};
        std::vector<std::string> paths;
        Expected<std::vector<store::SearchHit>> hits = s->search(request);
        if (!hits) return {"error: " + hits.error()};
        for (const auto& hit : *hits) paths.push_back(fs::path(hit.path).filename().string());
        return paths;
    }
    int64_t scalar(const char* sql) {
        auto s = open();
        Expected<store::Stmt> stmt = s->database().prepare(sql);
        return stmt && stmt->step().value() ? stmt->columnInt(0) : -1;
    }
    std::string integrity() { return open()->integrityCheck().value(); }

    fs::path root, corpus;
    size_t chunkBytes = size_t(4) << 20;
    double maxTransactionSeconds = 0.25;
    int commitDelayMs = 0;
};

using Names = std::vector<std::string>;

}  // namespace

TEST_F(PipelineTest, IncrementalRunsSkipReplaceAndRemove) {
    writeFile(corpus / "a.txt", "alpha words and a timeout\n");
    writeFile(corpus / "b.md", "# Bravo\n\noriginal paragraph\n");
    writeFile(corpus / "sub" / "c.log", "2024-01-01 ERROR charlie failed\n");
    IngestSummary first = ingest();
    EXPECT_EQ(first.added, 3);
    EXPECT_EQ(first.failed, 0);
    EXPECT_EQ(find("timeout"), (Names{"a.txt"}));

    IngestSummary second = ingest();
    EXPECT_EQ(second.added + second.updated, 0);
    EXPECT_EQ(second.unchanged, 3);

    // Same bytes, new mtime: re-hashed, found unchanged, not re-extracted.
    fs::last_write_time(corpus / "a.txt",
                        fs::last_write_time(corpus / "a.txt") + std::chrono::hours(1));
    writeFile(corpus / "b.md", "# Bravo\n\nrewritten paragraph, longer than before\n");
    fs::remove(corpus / "sub" / "c.log");
    IngestSummary third = ingest();
    EXPECT_EQ(third.unchanged, 1);  // a.txt: new mtime, same hash
    EXPECT_EQ(third.updated, 1);
    EXPECT_EQ(third.removed, 1);
    EXPECT_TRUE(find("original").empty());
    EXPECT_EQ(find("rewritten"), (Names{"b.md"}));
    EXPECT_TRUE(find("charlie").empty());
    EXPECT_EQ(scalar("SELECT count(*) FROM documents WHERE status = 'removed'"), 1);
    EXPECT_EQ(integrity(), "ok");
}

TEST_F(PipelineTest, IdenticalFilesShareContent) {
    const std::string text = "the same clause about indemnify appears twice\n";
    writeFile(corpus / "one.txt", text);
    writeFile(corpus / "copy" / "one.txt", text);
    IngestSummary summary = ingest();
    EXPECT_EQ(summary.added, 2);
    EXPECT_EQ(scalar("SELECT count(*) FROM contents"), 1);
    EXPECT_EQ(find("indemnify").size(), 2u);
}

TEST_F(PipelineTest, BadFilesAreRecordedAndTheRestIngested) {
    writeFile(corpus / "good.txt", "good document\n");
    std::string binary(
        "\x7f"
        "ELF\x02\x01\x01",
        7);  // an executable posing as text
    binary.resize(4096, '\0');
    for (size_t i = 64; i < binary.size(); i += 3) binary[i] = char((i * 7919) & 0xff);
    writeFile(corpus / "fake.txt", binary);
    writeFile(corpus / "broken.pdf", "%PDF-1.4\n1 0 obj\n<< /Type /Catalog");
    fs::create_symlink("loop-b", corpus / "loop-a");
    fs::create_symlink("loop-a", corpus / "loop-b");
    std::string invalid;
    for (int i = 0; i < 5; ++i) invalid += "naïve café résumé — ok ";
    writeFile(corpus / "invalid.txt", invalid + "\xff\xfe end\n");
    IngestSummary summary = ingest();
    EXPECT_GE(summary.failed, 2);  // the binary and the broken PDF at least
    EXPECT_EQ(find("good"), (Names{"good.txt"}));
    EXPECT_EQ(find("end"), (Names{"invalid.txt"}));
    auto s = open();
    Expected<std::vector<store::CollectionReport>> report = s->report("c");
    ASSERT_TRUE(report);
    std::map<std::string, std::string> statusOf;
    for (const auto& issue : report->front().issues) {
        statusOf[fs::path(issue.path).filename().string()] = issue.status;
        EXPECT_FALSE(issue.error.empty()) << issue.path;
    }
    EXPECT_EQ(statusOf["fake.txt"], "skipped: binary");
    EXPECT_TRUE(statusOf.count("broken.pdf"));
    EXPECT_GT(scalar("SELECT replaced_bytes FROM documents WHERE path LIKE '%invalid.txt'"), 0);
    EXPECT_EQ(integrity(), "ok");
}

TEST_F(PipelineTest, LargeDocumentStreamsInChunksAndIsReplacedAtomically) {
    chunkBytes = 16 * 1024;  // force many Chunk messages
    std::string log;
    for (int i = 1; i <= 60000; ++i)
        log += "2024-05-01 INFO request " + std::to_string(i) + " ok\n";
    log += "2024-05-01 ERROR planted-needle at the very end\n";
    writeFile(corpus / "big.log", log);
    IngestSummary summary = ingest();
    EXPECT_EQ(summary.added, 1);
    EXPECT_EQ(find("needle"), (Names{"big.log"}));
    const int64_t segments = scalar("SELECT segment_count FROM contents");
    EXPECT_GT(segments, 1);
    EXPECT_EQ(scalar("SELECT count(*) FROM segments"), segments);
    EXPECT_EQ(scalar("SELECT max(line_end) FROM segments"), 60001);

    writeFile(corpus / "big.log", log + "2024-05-02 WARN second-needle\n");
    EXPECT_EQ(ingest().updated, 1);
    EXPECT_EQ(scalar("SELECT count(*) FROM contents"), 1);
    EXPECT_EQ(find("second"), (Names{"big.log"}));
    EXPECT_EQ(integrity(), "ok");
}

TEST_F(PipelineTest, CancelKeepsWhatWasCommitted) {
    // A commit per document, each held open 5 ms: the cancel after the first commit then
    // always finds work left (with grouped commits a fast machine could commit all 300 in
    // the first transaction, and the run would end before the cancel was seen).
    maxTransactionSeconds = 0;
    commitDelayMs = 5;
    for (int i = 0; i < 300; ++i) {
        writeFile(corpus / ("f" + std::to_string(i) + ".txt"),
                  "file number " + std::to_string(i) + "\n");
    }
    std::atomic<bool> cancel{false};
    std::vector<std::string> committed;
    IngestSummary summary = ingest(&cancel, [&](const CommittedDocument& d) {
        committed.push_back(d.path);
        cancel = true;  // Ctrl-C right after the first commit
    });
    EXPECT_TRUE(summary.cancelled);
    EXPECT_FALSE(committed.empty());
    EXPECT_EQ(integrity(), "ok");
    EXPECT_EQ(scalar("SELECT count(*) FROM contents WHERE state = 'pending'"), 0);
    const int64_t stored = scalar("SELECT count(*) FROM documents");
    EXPECT_GE(stored, int64_t(committed.size()));
    EXPECT_EQ(scalar("SELECT count(*) FROM documents WHERE status = 'removed'"), 0);

    maxTransactionSeconds = 0.25;
    commitDelayMs = 0;
    IngestSummary rerun = ingest();
    EXPECT_FALSE(rerun.cancelled);
    EXPECT_EQ(scalar("SELECT count(*) FROM documents WHERE status = 'ok'"), 300);
    EXPECT_EQ(integrity(), "ok");
}

TEST_F(PipelineTest, MissingRootIsReportedNotFatal) {
    writeFile(corpus / "a.txt", "present\n");
    IngestOptions options;
    options.storeDir = root / "store";
    options.collection = "c";
    options.paths = {root / "does-not-exist", corpus};
    Expected<IngestSummary> summary = runIngest(options);
    ASSERT_TRUE(summary) << summary.error();
    EXPECT_EQ(summary->added, 1);
    ASSERT_EQ(summary->rootErrors.size(), 1u);
    EXPECT_NE(summary->rootErrors[0].find("does-not-exist"), std::string::npos);
}
