// `lectern-cli prefill` and `state ls|rm|gc` on a scratch store with a random model, and
// crash safety of state writes: prefill killed with SIGKILL at random moments (some kills
// land between a state file and its index row, widened by a test hook); after each kill the
// store passes its integrity check, every indexed state file loads, the cache gives states
// equal to a full re-read (nothing damaged is ever used), and a final run completes.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include "child_process.h"
#include "io/state_file.h"
#include "services_test_util.h"

using namespace lectern;
using namespace lectern::services;
using namespace lectern::services::testing;
using lectern::testing::Child;
using lectern::testing::ChildOptions;
using lectern::testing::ChildResult;
using lectern::testing::runChild;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

class StateCliTest : public ::testing::Test {
protected:
    void SetUp() override {
        for (int i = 0; i < 3; ++i) {
            auto id = writeDocument(*st.store, st.collection, "/doc" + std::to_string(i) + ".pdf",
                                    samplePages(uint64_t(i) + 60, 6, 700));
            ASSERT_TRUE(id) << id.error();
            docs.push_back(*id);
        }
    }
    std::vector<std::string> cli(std::vector<std::string> args) {
        std::vector<std::string> argv{LECTERN_CLI, "--store", st.dir.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return argv;
    }
    std::vector<std::string> prefillArgs() {
        return cli(
            {"prefill", "--collection", "c", "--model", model.dir, "--snapshot-every", "300"});
    }
    // Everything a restart must find: integrity, loadable indexed files, correct states.
    void expectNothingDamagedIsUsed() {
        auto fresh = store::Store::open(st.dir, {false});
        ASSERT_TRUE(fresh) << fresh.error();
        EXPECT_EQ(*(*fresh)->integrityCheck(), "ok");
        store::StateIndex index((*fresh)->database());
        auto rows = index.all();
        ASSERT_TRUE(rows) << rows.error();
        for (const store::StateRow& r : *rows) {
            Session s = model.model->newSession();
            EXPECT_TRUE(io::stateLoad((st.dir / r.path).string(), *model.model, s))
                << "indexed state " << r.path << " does not load";
        }
        CacheOptions options;
        options.storeDir = st.dir;
        auto cache = StateCache::open(*model.model, TextCodec(), options);
        ASSERT_TRUE(cache) << cache.error();
        StateRequest request;
        request.key = StateKey::document(docs[1]);
        auto r = (*cache)->get(request);
        ASSERT_TRUE(r) << r.error();
        EXPECT_TRUE(r->refused.empty());
        auto text = (*cache)->text(request.key);
        ASSERT_TRUE(text);
        Session full = model.model->newSession();
        ASSERT_TRUE(full.prefill((*text)->tokens));
        EXPECT_LT(stateError(r->session, full), 1e-4);
    }

    ScratchStore st;
    TestModel model;
    std::vector<int64_t> docs;
};

}  // namespace

TEST_F(StateCliTest, PrefillThenListRemoveAndCollect) {
    ChildResult run = runChild(prefillArgs());
    ASSERT_EQ(run.exitCode, 0) << run.err;
    EXPECT_NE(run.err.find("4 sources ready"), std::string::npos) << run.err;  // 3 docs + stream
    ChildResult again = runChild(prefillArgs());
    ASSERT_EQ(again.exitCode, 0) << again.err;
    EXPECT_NE(again.err.find(" 0 tokens read"), std::string::npos) << again.err;

    ChildResult ls = runChild(cli({"state", "ls", "--json"}));
    ASSERT_EQ(ls.exitCode, 0) << ls.err;
    EXPECT_NE(ls.out.find("\"kind\": \"collection\""), std::string::npos) << ls.out;
    EXPECT_NE(ls.out.find("\"owner\": \"/doc2.pdf\""), std::string::npos) << ls.out;

    ChildResult rm =
        runChild(cli({"state", "rm", "--collection", "c", "--document", std::to_string(docs[0])}));
    ASSERT_EQ(rm.exitCode, 0) << rm.err;
    ChildResult ls2 = runChild(cli({"state", "ls", "--json"}));
    EXPECT_EQ(ls2.out.find("\"owner\": \"/doc0.pdf\""), std::string::npos) << ls2.out;
    EXPECT_NE(ls2.out.find("\"owner\": \"/doc1.pdf\""), std::string::npos) << ls2.out;

    const fs::path orphan = st.dir / "states" / "0000000000000000" / "d1-1.state";
    fs::create_directories(orphan.parent_path());
    std::ofstream(orphan) << "left by a killed writer";
    fs::last_write_time(orphan, fs::file_time_type::clock::now() - std::chrono::minutes(5));
    ChildResult gc = runChild(cli({"state", "gc", "--model", model.dir}));
    ASSERT_EQ(gc.exitCode, 0) << gc.err;
    EXPECT_NE(gc.out.find("removed 1 files"), std::string::npos) << gc.out;
    EXPECT_FALSE(fs::exists(orphan));
    expectNothingDamagedIsUsed();
}

TEST_F(StateCliTest, BadArgumentsGetClearErrors) {
    ChildResult noColl = runChild(cli({"prefill", "--collection", "nope", "--model", model.dir}));
    EXPECT_EQ(noColl.exitCode, 1);
    EXPECT_NE(noColl.err.find("no collection named \"nope\""), std::string::npos) << noColl.err;
    ChildResult noModel =
        runChild(cli({"prefill", "--collection", "c", "--model", (st.dir / "none").string()}));
    EXPECT_EQ(noModel.exitCode, 1);
    EXPECT_NE(noModel.err.find("no model at"), std::string::npos) << noModel.err;
    ChildResult badAction = runChild(cli({"state", "frob"}));
    EXPECT_EQ(badAction.exitCode, 2) << badAction.err;
}

TEST_F(StateCliTest, KillDuringStateWritesNeverLeavesADamagedStateInUse) {
    ChildOptions slow;
    slow.env["LECTERN_TEST_STATE_WRITE_DELAY_MS"] = "20";
    const auto t0 = Clock::now();
    {
        // How long a whole prefill takes here, on a throwaway copy of the store.
        ScratchStore timing;
        for (int i = 0; i < 3; ++i)
            writeDocument(*timing.store, timing.collection, "/doc" + std::to_string(i) + ".pdf",
                          samplePages(uint64_t(i) + 60, 6, 700));
        std::vector<std::string> args{LECTERN_CLI,        "--store", timing.dir.string(), "prefill",
                                      "--collection",     "c",       "--model",           model.dir,
                                      "--snapshot-every", "300"};
        ChildResult full = runChild(args, slow);
        ASSERT_EQ(full.exitCode, 0) << full.err;
    }
    const double fullMs = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    const char* killsEnv = std::getenv("LECTERN_STATE_CRASH_KILLS");
    const int kills = killsEnv ? std::atoi(killsEnv) : 6;
    std::mt19937 rng(20261122);
    std::uniform_real_distribution<double> when(0.05 * fullMs, 0.6 * fullMs);
    int killed = 0;
    for (int k = 0; k < kills; ++k) {
        Child child(prefillArgs(), slow);
        ASSERT_TRUE(child.started());
        const auto deadline = Clock::now() + std::chrono::duration<double, std::milli>(when(rng));
        while (Clock::now() < deadline) child.readOut(5);
        child.sendSignal(SIGKILL);
        ChildResult r = child.wait();
        killed += r.signal == SIGKILL;
        expectNothingDamagedIsUsed();
    }
    EXPECT_GT(killed, 0);
    ChildResult last = runChild(prefillArgs());
    ASSERT_EQ(last.exitCode, 0) << last.err;
    expectNothingDamagedIsUsed();
}
