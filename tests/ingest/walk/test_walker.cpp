// REPO-1: the walker against `git ls-files --cached --others --exclude-standard` on a
// repository made here with `git init` and on this source tree; symlink loops, links
// leaving the root, a file deleted between listing and examining (test hook), a FIFO,
// an unreadable folder, and names with invalid UTF-8 and a newline (escaped, reversible).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <set>

#include "ingest/extractors/text_decode.h"
#include "ingest/ingest_test_util.h"
#include "ingest/walk/walker.h"

using namespace lectern::walk;
using lectern::testing::ScratchDir;
using lectern::testing::writeFile;
namespace fs = std::filesystem;

namespace {

std::string run(const std::string& cmd) {
    std::string out;
    if (std::FILE* p = popen(cmd.c_str(), "r")) {
        char buf[4096];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
        pclose(p);
    }
    return out;
}

bool haveGit() {
    return std::system("git --version > /dev/null 2>&1") == 0;
}

// Ground truth: files git would list, present on disk, outside the default skip folders.
std::set<std::string> gitTruth(const fs::path& root) {
    const std::string out =
        run("cd '" + root.string() + "' && git ls-files -z --cached --others --exclude-standard");
    const auto skip = defaultSkipDirs();
    std::set<std::string> files;
    size_t pos = 0;
    while (pos < out.size()) {
        const size_t end = out.find('\0', pos);
        const std::string rel = out.substr(pos, end - pos);
        pos = end == std::string::npos ? out.size() : end + 1;
        struct stat st {};
        if (lstat((root / rel).c_str(), &st) != 0 || S_ISDIR(st.st_mode)) continue;
        bool skipped = false;
        for (const auto& part : fs::path(rel).parent_path()) {
            skipped = skipped || std::find(skip.begin(), skip.end(), part.string()) != skip.end();
        }
        if (!skipped) files.insert(rel);
    }
    return files;
}

std::vector<WalkEntry> walkAll(const fs::path& root, const WalkOptions& options = {}) {
    std::vector<WalkEntry> entries;
    auto summary = walkTree(root, options, [&](const WalkEntry& e) {
        entries.push_back(e);
        return true;
    });
    EXPECT_TRUE(summary.hasValue()) << summary.error();
    return entries;
}

std::set<std::string> listedFiles(const std::vector<WalkEntry>& entries) {
    std::set<std::string> files;
    for (const auto& e : entries) {
        if (e.status == EntryStatus::Ok || e.kind == EntryKind::Symlink) {
            files.insert(*unescapePath(e.relativePath));
        }
    }
    return files;
}

const WalkEntry* find(const std::vector<WalkEntry>& entries, const std::string& rel) {
    for (const auto& e : entries) {
        if (e.relativePath == rel) return &e;
    }
    return nullptr;
}

TEST(Walker, MatchesGitLsFilesOnAFreshRepository) {
    if (!haveGit()) GTEST_SKIP() << "git not installed";
    ScratchDir repo("walkgit");
    const auto& r = repo.path();
    ASSERT_EQ(std::system(("git init -q '" + r.string() + "'").c_str()), 0);
    writeFile(r / ".gitignore", "*.log\n!important.log\ntmp/\n/rootonly.txt\n");
    writeFile(r / ".git/info/exclude", "excluded.txt\n");
    writeFile(r / "src/.gitignore", "*.gen\n");
    for (const char* f : {"a.txt", "important.log", "noise.log", "keep.log", "excluded.txt",
                          "rootonly.txt", "sub/rootonly.txt", "src/main.cpp", "src/x.gen",
                          "src/deep/y.gen", "tmp/t.txt", "build/out.o", "node_modules/m.js",
                          "docs/vendor/v.txt", "with space.md", "tmp2/kept.txt"}) {
        writeFile(r / f, std::string("content of ") + f);
    }
    // Tracked despite matching *.log and inside an ignored folder: git lists both.
    writeFile(r / "tmp/tracked.txt", "tracked");
    ASSERT_EQ(
        std::system(("cd '" + r.string() + "' && git add -f keep.log tmp/tracked.txt").c_str()), 0);
    const auto truth = gitTruth(r);
    const auto entries = walkAll(r);
    EXPECT_EQ(listedFiles(entries), truth);
    EXPECT_TRUE(truth.count("keep.log") && truth.count("tmp/tracked.txt") &&
                truth.count("important.log"));
    EXPECT_FALSE(truth.count("noise.log") || truth.count("src/deep/y.gen") ||
                 truth.count("excluded.txt"));
    const WalkEntry* build = find(entries, "build");
    ASSERT_NE(build, nullptr);
    EXPECT_EQ(build->status, EntryStatus::Skipped);
    // A root inside the work tree applies the same rules, relative to that folder.
    std::set<std::string> srcTruth;
    for (const auto& f : truth) {
        if (f.rfind("src/", 0) == 0) srcTruth.insert(f.substr(4));
    }
    EXPECT_EQ(listedFiles(walkAll(r / "src")), srcTruth);
    EXPECT_FALSE(srcTruth.empty());
    // Skip rules are configurable: with none, build/ and node_modules/ are walked.
    WalkOptions all;
    all.skipDirs.clear();
    EXPECT_TRUE(listedFiles(walkAll(r, all)).count("node_modules/m.js"));
}

TEST(Walker, MatchesGitLsFilesOnThisSourceTree) {
    const fs::path root = LECTERN_SOURCE_DIR;
    if (!haveGit() || !fs::exists(root / ".git")) GTEST_SKIP() << "no git checkout at " << root;
    // Others may be editing this tree: a mismatch is retried once before it counts.
    std::set<std::string> truth, listed;
    for (int attempt = 0; attempt < 2; ++attempt) {
        truth = gitTruth(root);
        listed = listedFiles(walkAll(root));
        if (truth == listed) break;
    }
    EXPECT_GT(truth.size(), 50u);
    std::vector<std::string> onlyGit, onlyWalker;
    std::set_difference(truth.begin(), truth.end(), listed.begin(), listed.end(),
                        std::back_inserter(onlyGit));
    std::set_difference(listed.begin(), listed.end(), truth.begin(), truth.end(),
                        std::back_inserter(onlyWalker));
    EXPECT_TRUE(onlyGit.empty()) << "only in git: " << onlyGit.size() << ", first "
                                 << (onlyGit.empty() ? "" : onlyGit[0]);
    EXPECT_TRUE(onlyWalker.empty()) << "only in walker: " << onlyWalker.size() << ", first "
                                    << (onlyWalker.empty() ? "" : onlyWalker[0]);
}

TEST(Walker, SymlinkLoopsAndLinksOutsideTheRoot) {
    ScratchDir dir("walklinks");
    const auto& r = dir.path();
    writeFile(r / "sub/file.txt", "x");
    fs::create_symlink("self", r / "self");      // ELOOP
    fs::create_symlink("..", r / "sub/up");      // an enclosing folder
    fs::create_symlink("/etc", r / "etc-link");  // leaves the root
    fs::create_symlink("sub", r / "inside");     // stays inside
    fs::create_symlink("missing", r / "dangling");
    for (bool follow : {false, true}) {
        SCOPED_TRACE(follow ? "following" : "not following");
        WalkOptions options;
        options.followSymlinks = follow;
        const auto entries = walkAll(r, options);
        EXPECT_EQ(find(entries, "self")->status, EntryStatus::LinkLoop);
        EXPECT_EQ(find(entries, "sub/up")->status, EntryStatus::LinkLoop);
        EXPECT_EQ(find(entries, "etc-link")->status, EntryStatus::LinkOutsideRoot);
        EXPECT_EQ(find(entries, "etc-link")->linkTarget, "/etc");
        EXPECT_EQ(find(entries, "dangling")->status, EntryStatus::LinkBroken);
        if (follow) {
            ASSERT_NE(find(entries, "inside/file.txt"), nullptr);
            EXPECT_EQ(find(entries, "inside/file.txt")->status, EntryStatus::Ok);
        } else {
            EXPECT_EQ(find(entries, "inside")->status, EntryStatus::Link);
            EXPECT_EQ(find(entries, "inside/file.txt"), nullptr);
        }
        for (const auto& e : entries)
            EXPECT_EQ(e.relativePath.rfind("etc-link/", 0), std::string::npos);
    }
}

TEST(Walker, VanishedFifoAndUnreadableEntries) {
    ScratchDir dir("walkodd");
    const auto& r = dir.path();
    writeFile(r / "keep.txt", "k");
    writeFile(r / "victim.txt", "v");
    ASSERT_EQ(mkfifo((r / "pipe").c_str(), 0600), 0);
    fs::create_directories(r / "locked");
    writeFile(r / "locked/inner.txt", "i");
    chmod((r / "locked").c_str(), 0);
    WalkOptions options;
    options.afterListHook = [](const fs::path& p) {
        if (p.filename() == "victim.txt") fs::remove(p);
    };
    const auto entries = walkAll(r, options);
    chmod((r / "locked").c_str(), 0700);
    EXPECT_EQ(find(entries, "victim.txt")->status, EntryStatus::Vanished);
    EXPECT_STREQ(entryStatusName(EntryStatus::Vanished), "vanished");
    EXPECT_EQ(find(entries, "pipe")->kind, EntryKind::Other);
    EXPECT_EQ(find(entries, "pipe")->status, EntryStatus::Skipped);
    EXPECT_EQ(find(entries, "keep.txt")->status, EntryStatus::Ok);
    if (geteuid() != 0) {  // root reads any folder; the extractor test covers root with a hook
        ASSERT_NE(find(entries, "locked"), nullptr);
        EXPECT_EQ(find(entries, "locked")->status, EntryStatus::Unreadable);
    }
}

TEST(Walker, UndecodableNamesAreEscapedReversibly) {
    ScratchDir dir("walknames");
    const std::string raw = std::string(
        "bad\xFF"
        "name\nwith newline\\.txt");
    writeFile(dir.path() / raw, "x");
    const auto entries = walkAll(dir.path());
    ASSERT_EQ(entries.size(), 1u);
    const WalkEntry& e = entries[0];
    EXPECT_EQ(e.relativePath, "bad\\xFFname\\x0Awith newline\\\\.txt");
    EXPECT_TRUE(lectern::ingest::isValidUtf8(e.relativePath));
    EXPECT_EQ(e.relativePath.find('\n'), std::string::npos);
    EXPECT_EQ(*unescapePath(e.relativePath), raw);
    EXPECT_EQ(e.path.filename().string(), raw);
    EXPECT_FALSE(unescapePath("bad\\q").hasValue());
}

TEST(Walker, EscapeRoundTripsRandomBytes) {
    std::mt19937 rng(1234);
    for (int i = 0; i < 20000; ++i) {
        std::string raw(rng() % 24, '\0');
        for (char& c : raw) c = char(rng() % 4 == 0 ? 0x80 + rng() % 128 : rng() % 256);
        const std::string esc = escapePath(raw);
        ASSERT_TRUE(lectern::ingest::isValidUtf8(esc));
        ASSERT_EQ(*unescapePath(esc), raw);
    }
}

}  // namespace
