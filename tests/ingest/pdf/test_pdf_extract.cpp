// The PDF extractor on documents with known content: text per page with page numbers and
// metadata, OCR of scanned pages, passwords (PDF-3), real-world PDFs shipped by Debian, and
// two threads sharing one extractor (the pipeline's two cores).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <thread>

#include "ingest/extractors/pdf_poppler.h"
#include "pdf_fixtures.h"

namespace lectern::testing {
namespace {

using ingest::ExtractStatus;
using ingest::SegmentKind;

std::string lower(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

class PdfExtract : public ::testing::Test {
protected:
    std::unique_ptr<ingest::Extractor> extractor = ingest::makePdfExtractor();
    TempDir dir;
};

TEST_F(PdfExtract, WorkerIsFound) {
    EXPECT_FALSE(ingest::pdfWorkerPath().empty());
}

TEST_F(PdfExtract, AcceptsByExtensionOrMagic) {
    EXPECT_TRUE(extractor->accepts("a/report.PDF", ""));
    EXPECT_TRUE(extractor->accepts("a/noext", "%PDF-1.7\n"));
    EXPECT_FALSE(extractor->accepts("a/tool.cpp", "// writes \"%PDF-1.4\" headers"));
    EXPECT_FALSE(extractor->accepts("a/notes.txt", "hello"));
}

TEST_F(PdfExtract, TextPerPageInOrderWithMetadata) {
    writeFile(dir / "three.pdf", makeTextPdf({"First page says alpha.\nSecond line of page one.",
                                              "Page two: bravo.", "Page three: charlie caf\xe9."},
                                             {"Known Title", "Ada Author", "Fixture Producer"}));
    const auto out = runExtractor(*extractor, dir / "three.pdf");
    ASSERT_EQ(out.result.status, ExtractStatus::Ok) << out.result.message;
    EXPECT_EQ(out.result.meta.pageCount, 3);
    EXPECT_EQ(out.result.meta.title, "Known Title");
    EXPECT_EQ(out.result.meta.author, "Ada Author");
    EXPECT_EQ(out.result.meta.extra.at("producer"), "Fixture Producer");
    EXPECT_EQ(out.result.meta.mimeType, "application/pdf");
    ASSERT_EQ(out.segments.size(), 3u);
    EXPECT_EQ(out.result.segmentCount, 3);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(out.segments[size_t(i)].kind, SegmentKind::Page);
        EXPECT_EQ(out.segments[size_t(i)].ordinal, i + 1);
        EXPECT_EQ(out.segments[size_t(i)].label, "page " + std::to_string(i + 1));
        EXPECT_FALSE(out.segments[size_t(i)].ocr);
    }
    EXPECT_EQ(out.pageText(1), "First page says alpha.\nSecond line of page one.");
    EXPECT_EQ(out.pageText(2), "Page two: bravo.");
    EXPECT_EQ(out.pageText(3), "Page three: charlie caf\xc3\xa9.");  // Latin-1 in, UTF-8 out
}

TEST_F(PdfExtract, ScannedPageIsReadByOcrAndMarked) {
    writeFile(dir / "scan.pdf",
              makeScannedPdf({"Typed page with words", "SCANNED EVIDENCE\nINVOICE NUMBER 4711"}));
    const auto out = runExtractor(*extractor, dir / "scan.pdf");
    ASSERT_EQ(out.result.status, ExtractStatus::Ok) << out.result.message;
    ASSERT_EQ(out.segments.size(), 2u);
    for (const auto& s : out.segments) EXPECT_TRUE(s.ocr) << "page " << s.ordinal;
    EXPECT_NE(lower(out.pageText(1)).find("typed page"), std::string::npos) << out.pageText(1);
    EXPECT_NE(out.pageText(2).find("INVOICE"), std::string::npos) << out.pageText(2);
    EXPECT_NE(out.pageText(2).find("4711"), std::string::npos) << out.pageText(2);
}

TEST_F(PdfExtract, MixedDocumentOcrsOnlyThePagesWithoutText) {
    // A text page followed by an image page: only the second is OCR'd.
    writeFile(dir / "text.pdf", makeTextPdf({"Native text layer here."}));
    writeFile(dir / "scan.pdf", makeScannedPdf({"PHOTOCOPY OF CONTRACT"}));
    const std::string merge = "qpdf --empty --pages '" + (dir / "text.pdf").string() + "' '" +
                              (dir / "scan.pdf").string() + "' -- '" +
                              (dir / "mixed.pdf").string() + "' 2>/dev/null";
    if (std::system(merge.c_str()) != 0) GTEST_SKIP() << "qpdf not available";
    const auto out = runExtractor(*extractor, dir / "mixed.pdf");
    ASSERT_EQ(out.result.status, ExtractStatus::Ok) << out.result.message;
    ASSERT_EQ(out.segments.size(), 2u);
    EXPECT_FALSE(out.segments[0].ocr);
    EXPECT_TRUE(out.segments[1].ocr);
    EXPECT_NE(out.pageText(2).find("CONTRACT"), std::string::npos) << out.pageText(2);
}

// PDF-3: the status tells "no password" and "wrong password" apart from errors, and user and
// owner passwords work in UTF-8 (AES-256) and Latin-1 (AES-128, PDFDocEncoding).
TEST_F(PdfExtract, Passwords) {
    writeFile(dir / "plain.pdf", makeTextPdf({"Secret page one.", "Secret page two."}));
    const std::string user = "p\xc3\xa4sswort";  // "pässwort" in UTF-8
    const std::string owner = "\xc3\xb6wner";    // "öwner"
    for (int bits : {256, 128}) {
        const auto enc = dir / ("enc" + std::to_string(bits) + ".pdf");
        if (!qpdfEncrypt(dir / "plain.pdf", enc, user, owner, bits)) GTEST_SKIP() << "qpdf missing";
        SCOPED_TRACE("AES-" + std::to_string(bits));
        const auto none = runExtractor(*extractor, enc);
        EXPECT_EQ(none.result.status, ExtractStatus::NeedsPassword) << none.result.message;
        EXPECT_TRUE(none.segments.empty());
        const auto wrong = runExtractor(*extractor, enc, "not it");
        EXPECT_EQ(wrong.result.status, ExtractStatus::WrongPassword) << wrong.result.message;
        EXPECT_TRUE(wrong.segments.empty());
        for (const auto& pw : {user, owner}) {
            const auto right = runExtractor(*extractor, enc, pw);
            EXPECT_EQ(right.result.status, ExtractStatus::Ok) << pw << ": " << right.result.message;
            EXPECT_EQ(right.pageText(2), "Secret page two.") << pw;
        }
    }
}

TEST_F(PdfExtract, MissingAndUnreadableFiles) {
    const auto gone = runExtractor(*extractor, dir / "absent.pdf");
    EXPECT_EQ(gone.result.status, ExtractStatus::Vanished) << gone.result.message;
    writeFile(dir / "empty.pdf", "");
    const auto empty = runExtractor(*extractor, dir / "empty.pdf");
    EXPECT_EQ(empty.result.status, ExtractStatus::Error) << empty.result.message;
    EXPECT_NE(empty.result.message.find("empty.pdf"), std::string::npos) << empty.result.message;
}

// Real-world PDFs that Debian packages ship (installed by scripts/setup.sh).
TEST_F(PdfExtract, DebianShippedPdfs) {
    const auto pdfs = debianPdfs();
    if (pdfs.empty()) GTEST_SKIP() << "no Debian-shipped PDFs installed (run scripts/setup.sh)";
    for (const auto& pdf : pdfs) {
        SCOPED_TRACE(pdf.path.string());
        const auto out = runExtractor(*extractor, pdf.path);
        ASSERT_EQ(out.result.status, ExtractStatus::Ok) << out.result.message;
        EXPECT_EQ(out.result.meta.pageCount, pdf.pages);
        EXPECT_NE(out.pageText(pdf.phrasePage).find(pdf.phrase), std::string::npos);
        int64_t last = 0;
        for (const auto& s : out.segments) {
            EXPECT_GT(s.ordinal, last);  // pages arrive in order, each once
            EXPECT_LE(s.ordinal, pdf.pages);
            EXPECT_FALSE(s.ocr);
            last = s.ordinal;
        }
        EXPECT_GE(int(out.segments.size()), pdf.pages * 9 / 10);  // a few blank pages at most
    }
}

TEST_F(PdfExtract, TwoThreadsShareOneExtractor) {
    writeFile(dir / "a.pdf", makeTextPdf({"thread a page 1", "thread a page 2"}));
    writeFile(dir / "b.pdf", makeTextPdf({"thread b page 1"}));
    std::vector<Extracted> results(2);
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 10; ++i) {
                results[size_t(t)] = runExtractor(*extractor, dir / (t == 0 ? "a.pdf" : "b.pdf"));
                if (results[size_t(t)].result.status != ExtractStatus::Ok) return;
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(results[0].result.status, ExtractStatus::Ok) << results[0].result.message;
    EXPECT_EQ(results[0].pageText(2), "thread a page 2");
    EXPECT_EQ(results[1].result.status, ExtractStatus::Ok) << results[1].result.message;
    EXPECT_EQ(results[1].pageText(1), "thread b page 1");
}

TEST_F(PdfExtract, SinkReturningFalseStopsTheDocument) {
    writeFile(dir / "long.pdf", makeTextPdf({"one", "two", "three", "four"}));
    ingest::ExtractRequest request;
    request.path = dir / "long.pdf";
    int seen = 0;
    const auto r = extractor->extract(request, [&](ingest::Segment&&) { return ++seen < 2; });
    EXPECT_EQ(r.status, ExtractStatus::Partial) << r.message;
    EXPECT_EQ(seen, 2);
    // The extractor is still usable afterwards.
    EXPECT_EQ(runExtractor(*extractor, dir / "long.pdf").segments.size(), 4u);
}

// The pipeline's Ctrl-C: the cancel flag stops a document between pages and kills its worker.
TEST_F(PdfExtract, CancelFlagStopsBetweenPages) {
    writeFile(dir / "long.pdf", makeTextPdf({"one", "two", "three", "four"}));
    std::atomic<bool> cancel{false};
    ingest::ExtractRequest request;
    request.path = dir / "long.pdf";
    request.cancel = &cancel;
    cancel = true;
    const auto before = runExtractor(*extractor, request);
    EXPECT_EQ(before.result.status, ExtractStatus::Error) << before.result.message;
    EXPECT_NE(before.result.message.find("cancelled"), std::string::npos) << before.result.message;
    cancel = false;
    int seen = 0;
    const auto r = extractor->extract(request, [&](ingest::Segment&&) {
        cancel = ++seen == 1;  // raised while page 1 is delivered
        return true;
    });
    EXPECT_EQ(r.status, ExtractStatus::Partial) << r.message;
    EXPECT_EQ(seen, 1);
    cancel = false;
    EXPECT_EQ(runExtractor(*extractor, request).result.status, ExtractStatus::Ok);
}

}  // namespace
}  // namespace lectern::testing
