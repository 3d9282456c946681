// lectern-cli retrieval-eval on the bundled model: the JSON summary counts every example
// and agrees with the per-example lines; the prompt format comes from the model folder;
// a malformed line is an error naming the file and line; a missing file names the file.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace lectern {
namespace {

const std::string kCli = std::string(LECTERN_BINARY_DIR) + "/app/lectern-cli";
const std::string kModel = std::string(LECTERN_SOURCE_DIR) + "/resources/models/default";

struct Dir {
    std::string path;
    Dir() {
        char tmpl[] = "/tmp/lectern-retrieval-XXXXXX";
        path = ::mkdtemp(tmpl) ? tmpl : "/tmp";
    }
    ~Dir() { std::filesystem::remove_all(path); }
};

std::string slurp(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

int run(const Dir& d, const std::string& args, std::string* out, std::string* err) {
    const int rc =
        std::system((kCli + " " + args + " > " + d.path + "/out 2> " + d.path + "/err").c_str());
    *out = slurp(d.path + "/out");
    *err = slurp(d.path + "/err");
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

void writeExamples(const std::string& path, int n) {
    std::ofstream f(path);
    for (int i = 0; i < n; ++i)
        f << nlohmann::json{{"document", "Some text.\n#define ITEM_" + std::to_string(i) + " 70" +
                                             std::to_string(i) + "\nMore text.\n"},
                            {"question", "What is the value of ITEM_" + std::to_string(i) + "?"},
                            {"answer", "70" + std::to_string(i)}}
                 .dump()
          << "\n";
}

TEST(RetrievalEval, SummaryCountsEveryExampleAndMatchesTheLines) {
    Dir d;
    writeExamples(d.path + "/ex.jsonl", 3);
    std::string out, err;
    ASSERT_EQ(
        run(d, "retrieval-eval --model " + kModel + " --data " + d.path + "/ex.jsonl", &out, &err),
        0)
        << err;
    int lines = 0, right = 0;
    for (size_t at = 0; (at = out.find('\n', at)) != std::string::npos; ++at) ++lines;
    for (size_t at = 0; (at = out.find("RIGHT ", at)) != std::string::npos; ++at) ++right;
    EXPECT_EQ(lines, 4) << out;  // three examples and the summary
    EXPECT_NE(out.find(": " + std::to_string(right) + " of 3 right"), std::string::npos) << out;
    ASSERT_EQ(run(d,
                  "retrieval-eval --json --max-examples 2 --model " + kModel + " --data " + d.path +
                      "/ex.jsonl",
                  &out, &err),
              0)
        << err;
    const auto j = nlohmann::json::parse(out);
    EXPECT_EQ(j.at("examples").get<int>(), 2);
    EXPECT_LE(j.at("right").get<int>(), 2);
    EXPECT_GE(j.at("accuracy").get<double>(), 0.0);
    EXPECT_LE(j.at("accuracy").get<double>(), 1.0);
}

TEST(RetrievalEval, BadInputNamesTheFileAndLine) {
    Dir d;
    {
        std::ofstream f(d.path + "/bad.jsonl");
        f << R"({"document": "x", "question": "q", "answer": "a"})"
          << "\n{\"document\": 3\n";
    }
    std::string out, err;
    EXPECT_EQ(
        run(d, "retrieval-eval --model " + kModel + " --data " + d.path + "/bad.jsonl", &out, &err),
        1);
    EXPECT_NE(err.find("bad.jsonl:2"), std::string::npos) << err;
    EXPECT_EQ(run(d, "retrieval-eval --model " + kModel + " --data " + d.path + "/none.jsonl", &out,
                  &err),
              1);
    EXPECT_NE(err.find("none.jsonl: cannot open"), std::string::npos) << err;
    // A prompt.json without {question} is refused, naming the file.
    std::filesystem::create_directory(d.path + "/m");
    for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"})
        std::filesystem::copy_file(kModel + "/" + f, d.path + "/m/" + f);
    std::ofstream(d.path + "/m/prompt.json") << R"({"question": "no placeholder"})";
    writeExamples(d.path + "/ex.jsonl", 1);
    EXPECT_EQ(run(d, "retrieval-eval --model " + d.path + "/m --data " + d.path + "/ex.jsonl", &out,
                  &err),
              1);
    EXPECT_NE(err.find("prompt.json"), std::string::npos) << err;
}

}  // namespace
}  // namespace lectern
