// libgit2-backed ignore rules for the walker (git_ignore.h).
#include "ingest/walk/git_ignore.h"

#include <git2.h>

#include <cstdlib>
#include <memory>

namespace lectern::walk {

GitIgnore::~GitIgnore() {
    if (index_) git_index_free(index_);
    if (repo_) git_repository_free(repo_);
    if (initialised_) git_libgit2_shutdown();
}

bool GitIgnore::open(const std::string& rootReal) {
    if (!initialised_) {
        git_libgit2_init();
        initialised_ = true;
    }
    if (git_repository_open_ext(&repo_, rootReal.c_str(), 0, nullptr) != 0) {
        repo_ = nullptr;
        return false;
    }
    const char* workdir = git_repository_workdir(repo_);
    if (!workdir) {  // bare repository: no work tree, no ignore rules to apply
        git_repository_free(repo_);
        repo_ = nullptr;
        return false;
    }
    // The work tree path may itself go through links; compare resolved paths.
    std::unique_ptr<char, decltype(&std::free)> real(realpath(workdir, nullptr), &std::free);
    std::string work = real ? std::string(real.get()) : std::string(workdir);
    if (!work.empty() && work.back() != '/') work += '/';
    const std::string root = rootReal + "/";
    if (root.compare(0, work.size(), work) == 0) {
        prefix_ = root.substr(work.size());
    } else {  // the root is not inside its work tree (e.g. inside .git): no rules
        git_repository_free(repo_);
        repo_ = nullptr;
        return false;
    }
    if (git_repository_index(&index_, repo_) != 0) index_ = nullptr;
    return true;
}

bool GitIgnore::isIgnored(const std::string& rel, bool isDir) const {
    if (!repo_) return false;
    std::string path = prefix_ + rel;
    if (isDir) path += '/';  // lets directory-only patterns ("build/") match
    int ignored = 0;
    if (git_ignore_path_is_ignored(&ignored, repo_, path.c_str()) != 0) return false;
    return ignored != 0;
}

bool GitIgnore::inIndex(const std::string& rel) const {
    if (!index_) return false;
    return git_index_get_bypath(index_, (prefix_ + rel).c_str(), 0) != nullptr;
}

bool GitIgnore::indexHasPrefix(const std::string& relDir) const {
    if (!index_) return false;
    size_t pos = 0;
    return git_index_find_prefix(&pos, index_, (prefix_ + relDir + "/").c_str()) == 0;
}

}  // namespace lectern::walk
