// Test PDFs made on the spot: text pages with known words on known pages (a minimal but real
// PDF writer using the standard Helvetica font), scanned pages (a text page rendered by Poppler
// and embedded as an image with no text layer), passwords via qpdf, and hostile structures.
// Also the Debian-shipped PDFs the tests read, and helpers to run the extractor.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "ingest/extractors/extractor.h"

namespace lectern::testing {

struct PdfInfo {
    std::string title, author, producer = "Lectern test fixtures";
};

// One page per string; '\n' starts a new line. Text is Latin-1 (WinAnsiEncoding) only.
std::string makeTextPdf(const std::vector<std::string>& pages, const PdfInfo& info = {});
// Pages that are images of text only (no text layer), as a scanner makes them.
std::string makeScannedPdf(const std::vector<std::string>& pages);

// Hostile structures for PDF-4.
std::string makeFlateBombContentPdf();  // ~KiB of nested Flate inflating to 1 GiB of content
std::string makeFlateBombFontPdf();     // the same bomb as an embedded Type 1 font program
std::string makeHugeCountPdf();         // /Count 2147483647 over one real page
std::string makeDeepNestingPdf();       // 100k-deep arrays in an object and in a content stream
std::string makeXrefLoopPdf();          // /Prev chains that point back at themselves

// Byte offset of the last "startxref", or npos.
size_t startxrefOffset(const std::string& pdf);

void writeFile(const std::filesystem::path& path, const std::string& bytes);
std::string readFile(const std::filesystem::path& path);

// Encrypts with qpdf: bits 256 (AES-256, UTF-8 passwords) or 128 (AES-128, Latin-1 passwords).
// Returns false when qpdf is missing or fails.
bool qpdfEncrypt(const std::filesystem::path& in, const std::filesystem::path& out,
                 const std::string& user, const std::string& owner, int bits);

// Real-world PDFs from Debian packages (scripts/setup.sh installs them), with known facts.
struct RealPdf {
    std::filesystem::path path;
    int pages;
    int phrasePage;  // 1-based page on which `phrase` appears
    std::string phrase;
};
std::vector<RealPdf> debianPdfs();  // only those present on this machine

// A fresh scratch folder under the system temp folder, removed by the destructor.
class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

// Runs an extractor over one file and keeps everything it produced.
struct Extracted {
    ingest::ExtractResult result;
    std::vector<ingest::Segment> segments;
    std::string pageText(int page) const;  // the text of the Page segment with that ordinal
};
Extracted runExtractor(ingest::Extractor& extractor, const ingest::ExtractRequest& request);
Extracted runExtractor(ingest::Extractor& extractor, const std::filesystem::path& path,
                       const std::string& password = {});

const char* statusName(ingest::ExtractStatus status);

}  // namespace lectern::testing
