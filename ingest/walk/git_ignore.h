// Ignore rules of the git repository holding a walk root, through libgit2: .gitignore
// files at every level, .git/info/exclude and core.excludesFile, plus the index, so
// that tracked files are listed even where a pattern would ignore them (as git does).
#pragma once

#include <string>

struct git_repository;
struct git_index;

namespace lectern::walk {

class GitIgnore {
public:
    GitIgnore() = default;
    ~GitIgnore();
    GitIgnore(const GitIgnore&) = delete;
    GitIgnore& operator=(const GitIgnore&) = delete;

    // Opens the repository containing `rootReal` (a resolved path); false when there is none.
    bool open(const std::string& rootReal);
    bool active() const { return repo_ != nullptr; }

    // `rel` is relative to the walk root, raw bytes, '/'-separated.
    bool isIgnored(const std::string& rel, bool isDir) const;
    bool inIndex(const std::string& rel) const;
    bool indexHasPrefix(const std::string& relDir) const;  // any tracked file below relDir

private:
    git_repository* repo_ = nullptr;
    git_index* index_ = nullptr;
    std::string prefix_;  // the root relative to the work tree, "" or ending in '/'
    bool initialised_ = false;
};

}  // namespace lectern::walk
