// `lectern-cli train --collection` and `eval --collection` end to end with the real binary
// (its path comes in as LECTERN_CLI): ingest four text files into a scratch store, train a
// tiny model on the collection for a few steps with one document held out, check the
// split it reports, the checkpoint's record of the collection, the evaluation's
// per-document lines, and the error for an unknown collection.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "engine/random_model.h"
#include "train_fixture.h"

namespace lectern {
namespace {

namespace fs = std::filesystem;

int run(const std::string& cmd) {
    const int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(TrainCollection, TrainsAndEvaluatesOnAStoreCollection) {
    const std::string dir = test::makeTempDir("lectern-train-coll");
    const std::string cli = LECTERN_CLI, store = dir + "/store", docs = dir + "/docs";
    fs::create_directories(docs);
    std::string text = test::licenceText("BSD") + test::licenceText("Apache-2.0");
    if (text.size() < 4000) text = std::string(4000, 'x');
    for (int i = 0; i < 4; ++i)
        std::ofstream(docs + "/doc" + std::to_string(i) + ".txt")
            << text.substr(size_t(i) * 900, 900) << "\n";
    std::ofstream(dir + "/config.json") << test::tinyConfigJson(false);

    ASSERT_EQ(run(cli + " --store " + store + " ingest --collection c " + docs + " > " + dir +
                  "/ingest.log 2>&1"),
              0)
        << test::fileBytes(dir + "/ingest.log");
    const std::string train = cli + " --store " + store + " train --config " + dir +
                              "/config.json --out " + dir +
                              "/out --steps 3 --seq-len 64 --batch 1 "
                              "--val-fraction 0.25 --eval-every 0 --checkpoint-every 3";
    ASSERT_EQ(run(train + " --collection c > " + dir + "/train.log 2>&1"), 0)
        << test::fileBytes(dir + "/train.log");
    const std::string log = test::fileBytes(dir + "/train.log");
    EXPECT_NE(log.find("collection 'c': 4 documents (1 for validation)"), std::string::npos) << log;
    EXPECT_TRUE(fs::exists(dir + "/out/model.safetensors"));
    const std::string state = test::fileBytes(dir + "/out/ckpt-00000003/trainer_state.json");
    EXPECT_NE(state.find("\"collection\": \"c\""), std::string::npos) << state;

    ASSERT_EQ(run(cli + " --store " + store + " eval --model " + dir + "/out --collection c > " +
                  dir + "/eval.log 2>&1"),
              0)
        << test::fileBytes(dir + "/eval.log");
    const std::string eval = test::fileBytes(dir + "/eval.log");
    EXPECT_NE(eval.find("document 4:"), std::string::npos) << eval;
    EXPECT_NE(eval.find("collection 'c':"), std::string::npos) << eval;

    EXPECT_NE(run(train + " --collection nope > " + dir + "/bad.log 2>&1"), 0);
    EXPECT_NE(test::fileBytes(dir + "/bad.log").find("nope"), std::string::npos)
        << test::fileBytes(dir + "/bad.log");
    fs::remove_all(dir);
}

}  // namespace
}  // namespace lectern
