// lectern-cli's store commands as a user runs them: ingest the bundled samples, status
// (text and --json), search with page/line references and highlights (TXT-3's search
// part: é/e, CJK, Arabic), the store location rules, and the documented exit codes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli_test_util.h"

using namespace lectern::testing;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kSamples = std::string(LECTERN_SOURCE_DIR) + "/resources/samples";

class CliTest : public ::testing::Test {
protected:
    ChildResult run(const std::vector<std::string>& args, const ChildOptions& options = {}) {
        std::vector<std::string> full{"--store", store.string()};
        full.insert(full.end(), args.begin(), args.end());
        return runChild(cli(full), options);
    }
    json searchJson(const std::string& query) {
        ChildResult r =
            run({"search", query, "--collection", "samples", "--json", "--limit", "50"});
        EXPECT_EQ(r.exitCode, 0) << r.err;
        return json::parse(r.out, nullptr, false);
    }
    static bool anyPathEndsWith(const json& hits, const std::string& suffix) {
        for (const json& hit : hits) {
            const std::string path = hit["path"];
            if (path.size() >= suffix.size() &&
                path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
                return true;
            }
        }
        return false;
    }
    TempDir dir;
    fs::path store = dir.path() / "store";
};

}  // namespace

TEST_F(CliTest, SamplesIngestStatusAndSearch) {
    ChildResult ingest = run({"ingest", kSamples, "--collection", "samples"});
    ASSERT_TRUE(ingest.exitCode == 0 || ingest.exitCode == 3) << ingest.err << ingest.out;
    EXPECT_NE(ingest.out.find("added"), std::string::npos) << ingest.out;

    ChildResult status = run({"status", "--collection", "samples", "--json"});
    ASSERT_EQ(status.exitCode, 0) << status.err;
    const json report = json::parse(status.out, nullptr, false);
    ASSERT_FALSE(report.is_discarded()) << status.out;
    const json& collection = report["collections"][0];
    EXPECT_EQ(collection["name"], "samples");
    EXPECT_GE(collection["documents"].get<int>(), 12);
    EXPECT_EQ(collection["problems"].size(),
              ingest.exitCode == 3 ? collection["problems"].size() : 0u);

    for (const char* word : {"termination", "indemnify", "timeout"}) {
        const json hits = searchJson(word);
        ASSERT_TRUE(hits.is_array()) << word;
        ASSERT_FALSE(hits.empty()) << word;
        const std::string snippet = hits[0]["snippet"];
        EXPECT_NE(snippet.find('['), std::string::npos) << snippet;
        EXPECT_TRUE(hits[0].contains("lines") || hits[0].contains("page")) << hits[0].dump();
    }
    bool pdfPageTwo = false;  // the contract PDF: "Term and Termination" is on page 2
    for (const json& hit : searchJson("termination")) {
        const std::string path = hit["path"];
        if (path.find("services-agreement.pdf") != std::string::npos && hit.contains("page")) {
            pdfPageTwo = pdfPageTwo || hit["page"] == 2;
        }
    }
    EXPECT_TRUE(pdfPageTwo);
    EXPECT_TRUE(anyPathEndsWith(searchJson("timeout"), "logs/gateway.log"));
    EXPECT_TRUE(anyPathEndsWith(searchJson("indemnify"), "mail/termination-notice.eml"));
}

TEST_F(CliTest, SearchFoldsDiacriticsAndFindsCjkAndArabic) {
    ASSERT_LE(run({"ingest", kSamples + "/notes", kSamples + "/records", "--collection", "samples"})
                  .exitCode,
              3);
    for (const char* query : {"café", "cafe", "CAFE"}) {
        const json hits = searchJson(query);
        EXPECT_TRUE(anyPathEndsWith(hits, "notes/multilingual.md")) << query;
        EXPECT_TRUE(anyPathEndsWith(hits, "records/invoices.csv")) << query;
    }
    EXPECT_TRUE(anyPathEndsWith(searchJson("東京"), "notes/multilingual.md"));
    EXPECT_TRUE(anyPathEndsWith(searchJson("契約"), "notes/multilingual.md"));
    EXPECT_TRUE(anyPathEndsWith(searchJson("العقد"), "notes/multilingual.md"));
    EXPECT_TRUE(anyPathEndsWith(searchJson("resiliation"), "notes/multilingual.md"));
}

TEST_F(CliTest, TextOutputShowsLocationAndHighlight) {
    ASSERT_EQ(run({"ingest", kSamples + "/logs", "--collection", "samples"}).exitCode, 0);
    ChildResult r = run({"search", "timeout", "--collection", "samples", "--limit", "1"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_NE(r.out.find("gateway.log"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("line"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("[timeout]"), std::string::npos) << r.out;
    ChildResult status = run({"status"});
    EXPECT_EQ(status.exitCode, 0);
    EXPECT_NE(status.out.find("collection 'samples': 1 documents"), std::string::npos)
        << status.out;
}

TEST_F(CliTest, FailedDocumentsGiveExitThreeAndAppearInStatus) {
    writeFile(dir.path() / "in" / "good.txt", "fine words\n");
    std::string binary(
        "\x7f"
        "ELF\x02\x01\x01",
        7);  // an executable posing as text
    binary.resize(2048, '\0');
    writeFile(dir.path() / "in" / "bad.txt", binary);
    ChildResult r = run({"ingest", (dir.path() / "in").string(), "--collection", "mixed"});
    EXPECT_EQ(r.exitCode, 3) << r.out << r.err;
    ChildResult status = run({"status", "--collection", "mixed"});
    EXPECT_NE(status.out.find("bad.txt"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("binary"), std::string::npos) << status.out;
}

TEST_F(CliTest, StoreLocationFromEnvironment) {
    writeFile(dir.path() / "in" / "a.txt", "environment chosen store\n");
    ChildOptions env;
    env.env["LECTERN_STORE"] = (dir.path() / "envstore").string();
    ChildResult r =
        runChild(cli({"ingest", (dir.path() / "in").string(), "--collection", "e"}), env);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_TRUE(fs::exists(dir.path() / "envstore" / "lectern.db"));
    ChildOptions xdg;
    xdg.env["XDG_DATA_HOME"] = (dir.path() / "xdg").string();
    xdg.env["LECTERN_STORE"] = "";
    r = runChild(cli({"ingest", (dir.path() / "in").string(), "--collection", "e"}), xdg);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_TRUE(fs::exists(dir.path() / "xdg" / "lectern" / "lectern.db"));
}

TEST_F(CliTest, ExitCodesFollowTheContract) {
    EXPECT_EQ(run({"search", "x"}).exitCode, 2);                  // --collection missing
    EXPECT_EQ(run({"ingest", "--collection", "c"}).exitCode, 2);  // no path
    EXPECT_EQ(run({"no-such-command"}).exitCode, 2);
    ChildResult noStore = run({"status"});
    EXPECT_EQ(noStore.exitCode, 1);
    EXPECT_NE(noStore.err.find("no store"), std::string::npos) << noStore.err;
    writeFile(dir.path() / "in" / "a.txt", "words\n");
    ASSERT_EQ(run({"ingest", (dir.path() / "in").string(), "--collection", "c"}).exitCode, 0);
    ChildResult unknown = run({"search", "words", "--collection", "nope"});
    EXPECT_EQ(unknown.exitCode, 1);
    EXPECT_NE(unknown.err.find("nope"), std::string::npos);
    ChildResult punctuation = run({"search", "--", "--collection", "c"});
    EXPECT_NE(punctuation.exitCode, 0);
    ChildResult missing = run({"ingest", (dir.path() / "absent").string(), "--collection", "c"});
    EXPECT_EQ(missing.exitCode, 3) << missing.err;
    EXPECT_NE(missing.err.find("absent"), std::string::npos) << missing.err;
}

TEST_F(CliTest, DocumentsListsIdsThatOtherCommandsTake) {
    ChildResult ingest = run({"ingest", kSamples, "--collection", "samples"});
    ASSERT_TRUE(ingest.exitCode == 0 || ingest.exitCode == 3) << ingest.err << ingest.out;
    ChildResult listed = run({"documents", "--collection", "samples", "--json"});
    ASSERT_EQ(listed.exitCode, 0) << listed.err;
    const json docs = json::parse(listed.out, nullptr, false);
    ASSERT_TRUE(docs.is_array()) << listed.out;
    EXPECT_GE(docs.size(), 12u);
    int64_t pdfId = 0;
    for (const json& d : docs) {
        EXPECT_GT(d["id"].get<int64_t>(), 0);
        if (d["path"].get<std::string>().find("services-agreement.pdf") != std::string::npos) {
            pdfId = d["id"];
            EXPECT_EQ(d["pages"].get<int64_t>(), 3) << d.dump();
        }
    }
    ASSERT_GT(pdfId, 0) << listed.out;
    ChildResult text = run({"documents", "--collection", "samples"});
    EXPECT_EQ(text.exitCode, 0);
    EXPECT_NE(text.out.find("services-agreement.pdf"), std::string::npos) << text.out;
    ChildResult missing = run({"documents", "--collection", "no-such"});
    EXPECT_NE(missing.exitCode, 0);
    EXPECT_NE(missing.err.find("no collection named 'no-such'"), std::string::npos) << missing.err;
}
