// REC-1: CSV (quoted newline, unbalanced quote at EOF, 10^5 columns), JSON nested
// 100,000 deep, JSONL with a bad line 500, and mail (.eml/mbox with broken headers,
// invalid base64 and an attachment named ../../x). Pass: clean errors, exact row and
// message counts, the attachment name stored as data, and no file created anywhere:
// TMPDIR and the working folder are empty scratch folders checked at the end.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "ingest/extractors/csv.h"
#include "ingest/extractors/json.h"
#include "ingest/extractors/mail.h"
#include "ingest/extractors/text_decode.h"
#include "ingest/ingest_test_util.h"

using namespace lectern::ingest;
using lectern::testing::runExtractor;
using lectern::testing::ScratchDir;
using lectern::testing::writeFile;

namespace {

bool emptyDir(const std::filesystem::path& p) {
    return std::filesystem::is_directory(p) &&
           std::filesystem::directory_iterator(p) == std::filesystem::directory_iterator();
}

// Inputs live in `inputs`; TMPDIR and the working folder (in/a/b, so that "../../x"
// would land in `sandbox`) must stay exactly as they were.
class Records : public ::testing::Test {
protected:
    void SetUp() override {
        std::filesystem::create_directories(sandbox.path() / "a" / "b");
        oldCwd_ = std::filesystem::current_path();
        std::filesystem::current_path(sandbox.path() / "a" / "b");
        const char* old = std::getenv("TMPDIR");
        oldTmp_ = old ? old : "";
        setenv("TMPDIR", tmp.path().c_str(), 1);
    }
    void TearDown() override {
        EXPECT_TRUE(emptyDir(tmp.path())) << "a file was created in TMPDIR";
        EXPECT_TRUE(emptyDir(sandbox.path() / "a" / "b")) << "a file was created in the cwd";
        EXPECT_FALSE(std::filesystem::exists(sandbox.path() / "x")) << "../../x was written";
        EXPECT_FALSE(std::filesystem::exists(inputs.path().parent_path() / "x"));
        std::filesystem::current_path(oldCwd_);
        if (oldTmp_.empty())
            unsetenv("TMPDIR");
        else
            setenv("TMPDIR", oldTmp_.c_str(), 1);
    }
    ScratchDir inputs{"rec-in"}, tmp{"rec-tmp"}, sandbox{"rec-box"};

private:
    std::filesystem::path oldCwd_;
    std::string oldTmp_;
};

TEST_F(Records, CsvQuotedNewlineKeepsRowsAndLines) {
    writeFile(inputs / "a.csv",
              "name,note\r\n\"Ann\",\"line one\nline two, \"\"quoted\"\"\"\r\nBob,plain\r\n");
    CsvExtractor ex;
    const auto got = runExtractor(ex, inputs / "a.csv");
    EXPECT_EQ(got.result.status, ExtractStatus::Ok) << got.result.message;
    EXPECT_EQ(got.result.meta.extra.at("rows"), "3");
    ASSERT_EQ(got.segments.size(), 1u);
    EXPECT_EQ(got.segments[0].label, "rows 1-3");
    EXPECT_EQ(got.segments[0].lineStart, 1);
    EXPECT_EQ(got.segments[0].lineEnd, 4);
    EXPECT_EQ(got.segments[0].text,
              "name | note\nAnn | line one\nline two, \"quoted\"\nBob | plain\n");
}

TEST_F(Records, CsvUnbalancedQuoteAtEofIsPartialNamingTheLine) {
    writeFile(inputs / "b.csv", "a,b\n1,2\n3,\"open\nmore text\n");
    CsvExtractor ex;
    const auto got = runExtractor(ex, inputs / "b.csv");
    EXPECT_EQ(got.result.status, ExtractStatus::Partial);
    EXPECT_NE(got.result.message.find("b.csv"), std::string::npos);
    EXPECT_NE(got.result.message.find("unbalanced quote"), std::string::npos);
    EXPECT_NE(got.result.message.find("line 3"), std::string::npos) << got.result.message;
    EXPECT_EQ(got.result.meta.extra.at("rows"), "3");
    EXPECT_NE(got.allText().find("1 | 2\n"), std::string::npos);
}

TEST_F(Records, CsvDelimiterIsSniffedAndTsvUsesTabs) {
    writeFile(inputs / "semi.csv", "a;b;c\n1;\"x;y\";3\n");
    writeFile(inputs / "t.tsv", "a\tb,c\n1\t2,3\n");
    CsvExtractor ex;
    EXPECT_EQ(runExtractor(ex, inputs / "semi.csv").allText(), "a | b | c\n1 | x;y | 3\n");
    EXPECT_EQ(runExtractor(ex, inputs / "t.tsv").allText(), "a | b,c\n1 | 2,3\n");
}

TEST_F(Records, CsvWithOneHundredThousandColumns) {
    std::string header, row;
    for (int i = 0; i < 100000; ++i) {
        header += (i ? "," : "") + std::string("c") + std::to_string(i);
        row += (i ? "," : "") + std::to_string(i * 7);
    }
    writeFile(inputs / "wide.csv", header + "\n" + row + "\n");
    CsvExtractor ex;
    const auto got = runExtractor(ex, inputs / "wide.csv");
    EXPECT_EQ(got.result.status, ExtractStatus::Ok);
    EXPECT_EQ(got.result.meta.extra.at("rows"), "2");
    EXPECT_EQ(got.result.meta.extra.at("columns"), "100000");
    const std::string all = got.allText();
    EXPECT_NE(all.find("c99999\n"), std::string::npos);
    EXPECT_NE(all.find(" | 699993\n"), std::string::npos);
    for (const auto& s : got.segments) EXPECT_LE(s.text.size(), size_t(65 << 10));
    EXPECT_TRUE(isValidUtf8(all));
}

TEST_F(Records, JsonNestedOneHundredThousandDeepIsAnError) {
    writeFile(inputs / "deep.json", std::string(100000, '[') + std::string(100000, ']'));
    JsonExtractor ex;
    const auto got = runExtractor(ex, inputs / "deep.json");
    EXPECT_EQ(got.result.status, ExtractStatus::Error);
    EXPECT_NE(got.result.message.find("deep.json"), std::string::npos);
    EXPECT_NE(got.result.message.find("nesting deeper than"), std::string::npos)
        << got.result.message;
}

TEST_F(Records, JsonArrayRecordsAndTruncation) {
    writeFile(inputs / "a.json",
              "[{\"name\":\"Ann\",\"tags\":[\"x\",\"y\"],\"addr\":{\"city\":\"Paris\"}},{\"name\":"
              "\"Bob\"},3]");
    JsonExtractor ex;
    auto got = runExtractor(ex, inputs / "a.json");
    EXPECT_EQ(got.result.status, ExtractStatus::Ok) << got.result.message;
    EXPECT_EQ(got.result.meta.extra.at("records"), "3");
    EXPECT_EQ(got.allText(),
              "name: Ann\ntags[0]: x\ntags[1]: y\naddr.city: Paris\n\nname: Bob\n\n3\n\n");
    writeFile(inputs / "cut.json", "[{\"a\":1},{\"b\":");
    got = runExtractor(ex, inputs / "cut.json");
    EXPECT_EQ(got.result.status, ExtractStatus::Partial);
    EXPECT_NE(got.result.message.find("syntax error at byte"), std::string::npos)
        << got.result.message;
}

TEST_F(Records, JsonLinesBadLine500IsNamedAndTheRestStored) {
    std::string body;
    for (int i = 1; i <= 1000; ++i) {
        body += i == 500 ? "{\"id\": 500, broken\n" : "{\"id\": " + std::to_string(i) + "}\n";
    }
    writeFile(inputs / "events.jsonl", body);
    JsonExtractor ex;
    const auto got = runExtractor(ex, inputs / "events.jsonl");
    EXPECT_EQ(got.result.status, ExtractStatus::Partial);
    EXPECT_NE(got.result.message.find("line 500:"), std::string::npos) << got.result.message;
    EXPECT_NE(got.result.message.find("events.jsonl"), std::string::npos);
    EXPECT_EQ(got.result.meta.extra.at("records"), "999");
    const std::string all = got.allText();
    EXPECT_EQ(all.find("id: 500\n"), std::string::npos);
    EXPECT_NE(all.find("id: 499\n"), std::string::npos);
    EXPECT_NE(all.find("id: 1000\n"), std::string::npos);
    for (const auto& s : got.segments) {
        if (s.lineStart <= 501 && 501 <= s.lineEnd) {
            EXPECT_NE(s.text.find("id: 501"), std::string::npos);
        }
    }
}

const char* kBrokenMail =
    "From: =?UTF-8?B?SsO8cmdlbg==?= <j@example.org>\n"
    "To: broken header without address\n"
    "Subject: Quarterly =?ISO-8859-1?Q?r=E9sum=E9?= \xFF\n"
    "this line is not a header at all\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"XYZ\"\n"
    "\n"
    "--XYZ\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "SGVsbG8g!!!d29ybGQ=\n"
    "--XYZ\n"
    "Content-Type: application/octet-stream\n"
    "Content-Disposition: attachment; filename=\"../../x\"\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "@@@not base64 at all***\n"
    "--XYZ--\n";

TEST_F(Records, EmlWithBrokenHeadersInvalidBase64AndHostileAttachmentName) {
    writeFile(inputs / "m.eml", kBrokenMail);
    MailExtractor ex;
    const auto got = runExtractor(ex, inputs / "m.eml");
    EXPECT_EQ(got.result.meta.extra.at("messages"), "1");
    ASSERT_EQ(got.segments.size(), 1u);
    const Segment& s = got.segments[0];
    EXPECT_EQ(s.kind, SegmentKind::Message);
    EXPECT_EQ(s.ordinal, 1);
    EXPECT_NE(s.label.find("Quarterly"), std::string::npos) << s.label;
    EXPECT_NE(s.text.find("J\xC3\xBCrgen"), std::string::npos) << s.text;
    EXPECT_NE(s.text.find("Hello"), std::string::npos) << s.text;
    EXPECT_NE(s.text.find("Attachment: ../../x (application/octet-stream"), std::string::npos)
        << s.text;
    EXPECT_TRUE(isValidUtf8(s.text));
    EXPECT_TRUE(isValidUtf8(s.label));
}

TEST_F(Records, MboxCountsEveryMessage) {
    std::string mbox;
    for (int i = 1; i <= 3; ++i) {
        mbox += "From sender@example.org Mon Jan  1 00:00:00 2024\n";
        mbox += i == 2 ? std::string(kBrokenMail)
                       : "From: a@example.org\nSubject: message " + std::to_string(i) +
                             "\n\nbody " + std::to_string(i) + "\n>From the past\n";
        mbox += "\n";
    }
    writeFile(inputs / "box.mbox", mbox);
    MailExtractor ex;
    const auto got = runExtractor(ex, inputs / "box.mbox");
    EXPECT_EQ(got.result.status, ExtractStatus::Ok) << got.result.message;
    EXPECT_EQ(got.result.meta.extra.at("messages"), "3");
    ASSERT_EQ(got.segments.size(), 3u);
    EXPECT_EQ(got.segments[2].label, "message 3");
    EXPECT_EQ(got.segments[2].ordinal, 3);
    EXPECT_NE(got.segments[1].text.find("../../x"), std::string::npos);
}

TEST_F(Records, GarbageMailIsACleanError) {
    writeFile(inputs / "empty.eml", "");
    MailExtractor ex;
    const auto got = runExtractor(ex, inputs / "empty.eml");
    EXPECT_EQ(got.result.status, ExtractStatus::Error);
    EXPECT_NE(got.result.message.find("empty.eml"), std::string::npos);
}

}  // namespace
