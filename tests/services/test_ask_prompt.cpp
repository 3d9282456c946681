// prompt.json and the question checks: the documented default, a custom format, every
// malformed field refused with the file's name, and bad questions (empty, 1 MB, invalid
// UTF-8) refused with a message saying what is wrong.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "prompt_format.h"

namespace lectern::services {
namespace {

TEST(PromptFormat, DefaultIsTheDocumentedOne) {
    PromptFormat f;
    EXPECT_EQ(f.render("Who signed?"), "\n\nQuestion: Who signed?\nAnswer:");
    EXPECT_EQ(f.stop, std::vector<std::string>{"\n"});
}

TEST(PromptFormat, ParsesCustomFieldsAndIgnoresUnknownOnes) {
    auto f = promptFormatParse(
        R"({"document_end": "\n<end>\n", "question": "Q: {question} ({question})\nA:",
            "stop": ["\n\n", "Q:"], "future_field": 3})",
        "prompt.json");
    ASSERT_TRUE(f) << f.error();
    EXPECT_EQ(f->render("x"), "\n<end>\nQ: x (x)\nA:");
    EXPECT_EQ(f->renderQuestion("y"), "Q: y (y)\nA:");
    EXPECT_EQ(f->stop, (std::vector<std::string>{"\n\n", "Q:"}));
    // A question holding "{question}" is inserted once, not expanded again.
    EXPECT_EQ(PromptFormat{}.renderQuestion("{question}"), "Question: {question}\nAnswer:");
}

TEST(PromptFormat, MalformedFilesAreRefusedNamingTheFile) {
    const char* bad[] = {
        "not json",
        "[1, 2]",
        R"({"question": "no slot"})",
        R"({"question": 3})",
        R"({"stop": "\n"})",
        R"({"stop": [""]})",
        R"({"stop": [1]})",
        R"({"document_end": null})",
        R"({"question": "{question}", "question": "{question}"})",
    };
    for (const char* text : bad) {
        auto f = promptFormatParse(text, "/m/prompt.json");
        ASSERT_FALSE(f) << text;
        EXPECT_EQ(f.error().rfind("/m/prompt.json", 0), 0u) << f.error();
    }
}

TEST(PromptFormat, LoadsFromTheModelFolderOrDefaults) {
    const auto dir = std::filesystem::temp_directory_path() / "lectern-prompt-test";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto absent = promptFormatLoad(dir.string());
    ASSERT_TRUE(absent) << absent.error();
    EXPECT_EQ(absent->question, PromptFormat{}.question);
    std::ofstream(dir / "prompt.json") << R"({"question": "Q {question} A"})";
    auto present = promptFormatLoad(dir.string());
    ASSERT_TRUE(present) << present.error();
    EXPECT_EQ(present->render("z"), "\n\nQ z A");
    std::ofstream(dir / "prompt.json") << "{";
    auto broken = promptFormatLoad((dir / "model.safetensors").string());  // a file in it
    ASSERT_FALSE(broken);
    EXPECT_NE(broken.error().find("prompt.json"), std::string::npos) << broken.error();
    std::filesystem::remove_all(dir);
}

TEST(QuestionCheck, RefusesEmptyHugeAndInvalidUtf8) {
    EXPECT_TRUE(questionCheck("Who may terminate the lease?"));
    EXPECT_TRUE(questionCheck("Qui peut résilier ? 誰が"));
    struct Case {
        std::string q;
        const char* says;
    };
    const Case cases[] = {
        {"", "empty"},
        {" \n\t ", "empty"},
        {std::string(1 << 20, 'a'), "1048576 bytes"},
        {std::string(kMaxQuestionBytes + 1, 'a'), "limit"},
        {"bad \xff byte", "offset 4"},
        {"overlong \xc0\xaf", "UTF-8"},
        {"surrogate \xed\xa0\x80", "UTF-8"},
        {"cut \xe2\x82", "UTF-8"},
    };
    for (const Case& c : cases) {
        Status s = questionCheck(c.q);
        ASSERT_FALSE(s) << c.q.substr(0, 40);
        EXPECT_NE(s.message().find(c.says), std::string::npos) << s.message();
    }
    EXPECT_TRUE(questionCheck(std::string(kMaxQuestionBytes, 'a')));
}

}  // namespace
}  // namespace lectern::services
