// The DOCX/ODT extractor on documents built here with libzip: headings become Section segments
// labelled with the heading, paragraphs are lines, metadata is read; and bad containers (zip
// bomb, not a zip, missing part, broken XML, entity expansion) end as clean statuses.
#include <gtest/gtest.h>
#include <zip.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <utility>
#include <vector>

#include "ingest/extractors/office.h"

namespace lectern::testing {
namespace {

using ingest::ExtractStatus;
namespace fs = std::filesystem;

const char* kW = R"(xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main")";

void writeZip(const fs::path& path,
              const std::vector<std::pair<std::string, std::string>>& entries) {
    int err = 0;
    zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
    if (!z) throw std::runtime_error("zip_open failed");
    for (const auto& [name, data] : entries) {
        zip_source_t* src = zip_source_buffer(z, data.data(), data.size(), 0);
        if (!src || zip_file_add(z, name.c_str(), src, ZIP_FL_OVERWRITE) < 0) {
            throw std::runtime_error("zip_file_add failed");
        }
    }
    if (zip_close(z) != 0) throw std::runtime_error("zip_close failed");
}

std::string para(const std::string& text, const std::string& style = {}) {
    std::string p = "<w:p>";
    if (!style.empty()) p += "<w:pPr><w:pStyle w:val=\"" + style + "\"/></w:pPr>";
    return p + "<w:r><w:t xml:space=\"preserve\">" + text + "</w:t></w:r></w:p>";
}

std::string docxBody(const std::string& paragraphs) {
    return std::string("<?xml version=\"1.0\" encoding=\"UTF-8\"?><w:document ") + kW +
           R"( xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"><w:body>)" +
           paragraphs + "</w:body></w:document>";
}

const std::string kCore =
    R"(<?xml version="1.0"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Case Notes</dc:title><dc:creator>Jane Clerk</dc:creator></cp:coreProperties>)";

struct Outcome {
    ingest::ExtractResult result;
    std::vector<ingest::Segment> segments;
};

class OfficeExtract : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("lectern-office-" + std::to_string(::getpid()));
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    Outcome run(const fs::path& path) {
        Outcome r;
        ingest::ExtractRequest request;
        request.path = path;
        r.result = extractor_->extract(request, [&](ingest::Segment&& s) {
            r.segments.push_back(std::move(s));
            return true;
        });
        return r;
    }
    std::unique_ptr<ingest::Extractor> extractor_ = ingest::makeOfficeExtractor();
    fs::path dir_;
};

TEST_F(OfficeExtract, Accepts) {
    EXPECT_TRUE(extractor_->accepts("x/Report.DOCX", "PK\x03\x04rest"));
    EXPECT_TRUE(extractor_->accepts("x/a.odt", "PK\x03\x04"));
    EXPECT_FALSE(extractor_->accepts("x/a.docx", "%PDF-1.7"));
    EXPECT_FALSE(extractor_->accepts("x/a.zip", "PK\x03\x04"));
}

TEST_F(OfficeExtract, DocxHeadingsAndParagraphs) {
    // A localised heading style id found through styles.xml, a built-in id without it, a
    // table cell, and a text box whose mc:Fallback copy must not be read twice.
    const std::string styles = std::string("<w:styles ") + kW +
                               R"(><w:style w:type="paragraph" w:styleId="Berschrift1">)"
                               R"(<w:name w:val="heading 1"/></w:style></w:styles>)";
    const std::string body =
        para("Preface text.") + para("Facts", "Berschrift1") + para("The parties met on Monday.") +
        R"(<w:tbl><w:tr><w:tc>)" + para("Cell one") + R"(</w:tc></w:tr></w:tbl>)" +
        para("Details", "Heading2") +
        R"(<w:p><w:r><w:t>Line with </w:t></w:r><w:r><w:tab/><w:t>tab</w:t><w:br/><w:t>and break</w:t></w:r>)"
        R"(<w:r><mc:AlternateContent><mc:Choice><w:txbxContent>)" +
        para("Boxed note") + R"(</w:txbxContent></mc:Choice><mc:Fallback><w:txbxContent>)" +
        para("Boxed note") + R"(</w:txbxContent></mc:Fallback></mc:AlternateContent></w:r></w:p>)";
    writeZip(dir_ / "notes.docx", {{"word/document.xml", docxBody(body)},
                                   {"word/styles.xml", styles},
                                   {"docProps/core.xml", kCore}});
    const auto r = run(dir_ / "notes.docx");
    ASSERT_EQ(r.result.status, ExtractStatus::Ok) << r.result.message;
    EXPECT_EQ(r.result.meta.title, "Case Notes");
    EXPECT_EQ(r.result.meta.author, "Jane Clerk");
    ASSERT_EQ(r.segments.size(), 3u);
    EXPECT_EQ(r.segments[0].label, "Case Notes");  // text before the first heading
    EXPECT_EQ(r.segments[0].text, "Preface text.");
    EXPECT_EQ(r.segments[1].kind, ingest::SegmentKind::Section);
    EXPECT_EQ(r.segments[1].label, "Facts");
    EXPECT_EQ(r.segments[1].text, "Facts\nThe parties met on Monday.\nCell one");
    EXPECT_EQ(r.segments[1].lineStart, 2);
    EXPECT_EQ(r.segments[1].lineEnd, 4);
    EXPECT_EQ(r.segments[2].label, "Details");
    EXPECT_EQ(r.segments[2].text, "Details\nBoxed note\nLine with tab and break");
    EXPECT_EQ(r.segments[2].ordinal, 3);
}

TEST_F(OfficeExtract, OdtHeadingsSpacesAndMeta) {
    const std::string content =
        R"(<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>)"
        R"(<text:h text:outline-level="1">Zeugen</text:h><text:p>Erste<text:s text:c="3"/>Aussage <text:span>über</text:span> den Fall.<office:annotation><text:p>reviewer comment</text:p></office:annotation></text:p>)"
        R"(<text:list><text:list-item><text:p>Punkt eins</text:p></text:list-item></text:list>)"
        R"(<text:h text:outline-level="2">Beweise</text:h><text:p>Cafe&#x301; receipt</text:p>)"
        R"(</office:text></office:body></office:document-content>)";
    const std::string meta =
        R"(<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><office:meta><dc:title>Akte</dc:title><meta:initial-creator>K. Muster</meta:initial-creator></office:meta></office:document-meta>)";
    writeZip(dir_ / "akte.odt", {{"mimetype", "application/vnd.oasis.opendocument.text"},
                                 {"content.xml", content},
                                 {"meta.xml", meta}});
    const auto r = run(dir_ / "akte.odt");
    ASSERT_EQ(r.result.status, ExtractStatus::Ok) << r.result.message;
    EXPECT_EQ(r.result.meta.title, "Akte");
    EXPECT_EQ(r.result.meta.author, "K. Muster");
    EXPECT_EQ(r.result.meta.mimeType, "application/vnd.oasis.opendocument.text");
    ASSERT_EQ(r.segments.size(), 2u);
    EXPECT_EQ(r.segments[0].label, "Zeugen");
    EXPECT_EQ(r.segments[0].text,
              "Zeugen\nErste Aussage \xc3\xbc"
              "ber den Fall.\nPunkt eins");
    EXPECT_EQ(r.segments[1].label, "Beweise");
    EXPECT_EQ(r.segments[1].text, "Beweise\nCaf\xc3\xa9 receipt");  // NFC
    EXPECT_EQ(r.segments[1].lineStart, 4);
}

TEST_F(OfficeExtract, ZipBombIsRefused) {
    const std::string huge(100u << 20, ' ');  // inflates to 100 MiB, past the 64 MiB limit
    writeZip(dir_ / "bomb.docx", {{"word/document.xml", docxBody(huge)}});
    EXPECT_LT(fs::file_size(dir_ / "bomb.docx"), 1u << 20);
    const auto r = run(dir_ / "bomb.docx");
    EXPECT_EQ(r.result.status, ExtractStatus::Error) << r.result.message;
    EXPECT_NE(r.result.message.find("zip bomb"), std::string::npos) << r.result.message;
}

TEST_F(OfficeExtract, BadContainersAndMarkup) {
    std::ofstream(dir_ / "fake.docx") << "this is not a zip";
    EXPECT_EQ(run(dir_ / "fake.docx").result.status, ExtractStatus::Error);
    EXPECT_EQ(run(dir_ / "gone.docx").result.status, ExtractStatus::Vanished);
    writeZip(dir_ / "empty.docx", {{"other.xml", "<a/>"}});
    const auto missing = run(dir_ / "empty.docx");
    EXPECT_EQ(missing.result.status, ExtractStatus::Error);
    EXPECT_NE(missing.result.message.find("word/document.xml"), std::string::npos);

    // Cut-off XML keeps what came before, with a warning naming the line.
    const std::string full = docxBody(para("Kept paragraph.") + para("Second"));
    writeZip(dir_ / "cut.docx", {{"word/document.xml", full.substr(0, full.size() - 40)}});
    const auto cut = run(dir_ / "cut.docx");
    EXPECT_EQ(cut.result.status, ExtractStatus::Partial) << cut.result.message;
    EXPECT_NE(cut.result.message.find("XML error at line"), std::string::npos);
    ASSERT_FALSE(cut.segments.empty());
    EXPECT_EQ(cut.segments[0].text.rfind("Kept paragraph.", 0), 0u);

    // Entity expansion ("billion laughs") stays bounded.
    std::string dtd = "<?xml version=\"1.0\"?><!DOCTYPE w:document [<!ENTITY a \"aaaaaaaaaa\">";
    for (char c = 'b'; c <= 'j'; ++c) {
        dtd += std::string("<!ENTITY ") + c + " \"" + std::string(10, '&') + "\">";
        std::string refs;
        for (int i = 0; i < 10; ++i) refs += std::string("&") + char(c - 1) + ";";
        dtd.replace(dtd.size() - 12, 10, refs);
    }
    dtd += "]><w:document " + std::string(kW) +
           "><w:body><w:p><w:r><w:t>&j;</w:t></w:r></w:p></w:body></w:document>";
    writeZip(dir_ / "laughs.docx", {{"word/document.xml", dtd}});
    const auto laughs = run(dir_ / "laughs.docx");
    EXPECT_TRUE(laughs.result.status == ExtractStatus::Error ||
                laughs.result.status == ExtractStatus::Partial)
        << laughs.result.message;
    for (const auto& s : laughs.segments) EXPECT_LT(s.text.size(), 1u << 20);
}

}  // namespace
}  // namespace lectern::testing
