// The repository walker (walker.h). POSIX opendir/lstat keep names as raw bytes; each
// folder is listed whole and sorted, then its entries are examined one by one, so a name
// that disappears in between is reported as vanished rather than failing the walk.
#include "ingest/walk/walker.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>

#include "ingest/walk/git_ignore.h"

namespace lectern::walk {
namespace fs = std::filesystem;

const char* entryStatusName(EntryStatus status) {
    switch (status) {
        case EntryStatus::Ok:
            return "ok";
        case EntryStatus::Link:
            return "link";
        case EntryStatus::LinkOutsideRoot:
            return "link-outside-root";
        case EntryStatus::LinkLoop:
            return "link-loop";
        case EntryStatus::LinkBroken:
            return "link-broken";
        case EntryStatus::Skipped:
            return "skipped";
        case EntryStatus::Vanished:
            return "vanished";
        case EntryStatus::Unreadable:
            return "unreadable";
    }
    return "unknown";
}

std::vector<std::string> defaultSkipDirs() {
    return {".git",  ".hg",         ".svn",   "node_modules",     "vendor",  "third_party",
            "build", "dist",        "target", "__pycache__",      ".venv",   "venv",
            ".tox",  ".mypy_cache", ".cache", "bower_components", ".gradle", ".idea"};
}

namespace {

constexpr int kMaxDepth = 1000;  // deeper trees are reported, not walked (stack bound)

int64_t mtimeOf(const struct stat& st) {
    return int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

std::string errnoText(int err) {
    return std::strerror(err);
}

class Walker {
public:
    Walker(const WalkOptions& options, const WalkCallback& callback)
        : options_(options), callback_(callback) {}

    Expected<WalkSummary> run(const fs::path& root);

private:
    bool emit(WalkEntry entry);
    bool cancelled() const { return options_.cancel && options_.cancel->load(); }
    bool walkDir(const fs::path& dir, const std::string& rel, int depth);
    bool visit(const fs::path& path, const std::string& rel, const std::string& name, int depth);
    bool visitDir(const fs::path& path, const std::string& rel, const std::string& name,
                  const struct stat& st, int depth);
    bool visitLink(const fs::path& path, const std::string& rel, const struct stat& lst, int depth);
    bool skipByRule(const std::string& name) const;
    bool insideRoot(const std::string& resolved) const {
        return resolved == rootReal_ ||
               (resolved.size() > rootReal_.size() && resolved[rootReal_.size()] == '/' &&
                resolved.compare(0, rootReal_.size(), rootReal_) == 0);
    }
    WalkEntry makeEntry(const fs::path& path, const std::string& rel, EntryKind kind,
                        EntryStatus status, std::string message = {}) const {
        WalkEntry e;
        e.path = path;
        e.relativePath = escapePath(rel);
        e.kind = kind;
        e.status = status;
        e.message = std::move(message);
        return e;
    }

    const WalkOptions& options_;
    const WalkCallback& callback_;
    WalkSummary summary_;
    GitIgnore git_;
    std::string rootReal_;
    std::vector<std::pair<dev_t, ino_t>> ancestors_;  // folders on the current path
    bool stopped_ = false;
};

bool Walker::emit(WalkEntry entry) {
    ++summary_.entries;
    if (entry.status == EntryStatus::Ok) ++summary_.files;
    if (!callback_(entry)) stopped_ = true;
    return !stopped_;
}

bool Walker::skipByRule(const std::string& name) const {
    if (name == ".git") return true;
    return std::find(options_.skipDirs.begin(), options_.skipDirs.end(), name) !=
           options_.skipDirs.end();
}

Expected<WalkSummary> Walker::run(const fs::path& root) {
    std::unique_ptr<char, decltype(&std::free)> real(realpath(root.c_str(), nullptr), &std::free);
    if (!real) return Status::error(root.string() + ": " + errnoText(errno));
    rootReal_ = real.get();
    struct stat st {};
    if (stat(rootReal_.c_str(), &st) != 0)
        return Status::error(root.string() + ": " + errnoText(errno));
    if (options_.honourGitignore) summary_.gitRepository = git_.open(rootReal_);
    if (S_ISREG(st.st_mode)) {  // a single file: one entry named by its basename
        WalkEntry e = makeEntry(fs::absolute(root), root.filename().native(), EntryKind::File,
                                EntryStatus::Ok);
        e.size = st.st_size;
        e.mtimeNs = mtimeOf(st);
        emit(std::move(e));
        return summary_;
    }
    if (!S_ISDIR(st.st_mode)) return Status::error(root.string() + ": not a file or folder");
    ancestors_.push_back({st.st_dev, st.st_ino});
    walkDir(fs::absolute(root).lexically_normal(), "", 0);
    summary_.cancelled = stopped_ || cancelled();
    return summary_;
}

bool Walker::walkDir(const fs::path& dir, const std::string& rel, int depth) {
    DIR* d = opendir(dir.c_str());
    if (!d) {
        const int err = errno;
        const EntryStatus status = err == ENOENT ? EntryStatus::Vanished : EntryStatus::Unreadable;
        return emit(makeEntry(dir, rel, EntryKind::Directory, status,
                              dir.string() + ": cannot list folder: " + errnoText(err)));
    }
    std::vector<std::string> names;
    while (struct dirent* ent = readdir(d)) {
        if (std::strcmp(ent->d_name, ".") != 0 && std::strcmp(ent->d_name, "..") != 0) {
            names.emplace_back(ent->d_name);
        }
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
        if (stopped_ || cancelled()) return false;
        const std::string childRel = rel.empty() ? name : rel + "/" + name;
        if (!visit(dir / name, childRel, name, depth)) return false;
    }
    return true;
}

bool Walker::visit(const fs::path& path, const std::string& rel, const std::string& name,
                   int depth) {
    if (options_.afterListHook) options_.afterListHook(path);
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) {
        const int err = errno;
        if (err == ENOENT) {
            return emit(makeEntry(path, rel, EntryKind::File, EntryStatus::Vanished,
                                  path.string() + ": vanished after listing"));
        }
        return emit(makeEntry(path, rel, EntryKind::Other, EntryStatus::Unreadable,
                              path.string() + ": " + errnoText(err)));
    }
    if (S_ISDIR(st.st_mode)) return visitDir(path, rel, name, st, depth);
    if (name == ".git") return true;  // a worktree's or submodule's link file, never content
    if (options_.honourGitignore && git_.isIgnored(rel, false) &&
        !(options_.includeTrackedIgnored && git_.inIndex(rel))) {
        ++summary_.ignoredByGit;
        return true;
    }
    if (S_ISLNK(st.st_mode)) return visitLink(path, rel, st, depth);
    if (!S_ISREG(st.st_mode)) {
        return emit(makeEntry(path, rel, EntryKind::Other, EntryStatus::Skipped,
                              path.string() + ": not a regular file (FIFO, socket or device)"));
    }
    WalkEntry e = makeEntry(path, rel, EntryKind::File, EntryStatus::Ok);
    e.size = st.st_size;
    e.mtimeNs = mtimeOf(st);
    return emit(std::move(e));
}

bool Walker::visitDir(const fs::path& path, const std::string& rel, const std::string& name,
                      const struct stat& st, int depth) {
    if (skipByRule(name)) {
        if (name == ".git" || !options_.reportSkipped) return true;
        return emit(makeEntry(path, rel, EntryKind::Directory, EntryStatus::Skipped,
                              path.string() + ": vendored or generated folder skipped by rule"));
    }
    if (options_.honourGitignore && git_.isIgnored(rel, true) &&
        !(options_.includeTrackedIgnored && git_.indexHasPrefix(rel))) {
        ++summary_.ignoredByGit;
        return true;
    }
    if (depth + 1 >= kMaxDepth) {
        return emit(makeEntry(path, rel, EntryKind::Directory, EntryStatus::Skipped,
                              path.string() + ": folder nesting deeper than 1000 levels"));
    }
    ancestors_.push_back({st.st_dev, st.st_ino});
    const bool go = walkDir(path, rel, depth + 1);
    ancestors_.pop_back();
    return go;
}

bool Walker::visitLink(const fs::path& path, const std::string& rel, const struct stat& lst,
                       int depth) {
    std::string target(size_t(lst.st_size > 0 ? lst.st_size : 256) + 1, '\0');
    const ssize_t n = readlink(path.c_str(), target.data(), target.size());
    target.resize(n > 0 ? size_t(n) : 0);
    auto linkEntry = [&](EntryStatus status, std::string message) {
        WalkEntry e = makeEntry(path, rel, EntryKind::Symlink, status, std::move(message));
        e.linkTarget = escapePath(target);
        e.mtimeNs = mtimeOf(lst);
        return e;
    };
    const std::string shown = path.string() + " -> " + escapePath(target);
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
        const int err = errno;
        if (err == ELOOP) return emit(linkEntry(EntryStatus::LinkLoop, shown + ": symlink loop"));
        if (err == ENOENT) return emit(linkEntry(EntryStatus::LinkBroken, shown + ": broken link"));
        return emit(linkEntry(EntryStatus::Unreadable, shown + ": " + errnoText(err)));
    }
    std::unique_ptr<char, decltype(&std::free)> real(realpath(path.c_str(), nullptr), &std::free);
    if (!real || !insideRoot(real.get())) {
        return emit(linkEntry(EntryStatus::LinkOutsideRoot,
                              shown + ": target outside the root, not followed"));
    }
    const bool isAncestor = std::find(ancestors_.begin(), ancestors_.end(),
                                      std::make_pair(st.st_dev, st.st_ino)) != ancestors_.end();
    if (S_ISDIR(st.st_mode) && isAncestor) {
        return emit(linkEntry(EntryStatus::LinkLoop, shown + ": link to an enclosing folder"));
    }
    if (!options_.followSymlinks) {
        return emit(linkEntry(EntryStatus::Link, shown + ": symlink recorded, not followed"));
    }
    if (S_ISDIR(st.st_mode)) return visitDir(path, rel, path.filename().native(), st, depth);
    if (!S_ISREG(st.st_mode)) {
        return emit(linkEntry(EntryStatus::Skipped, shown + ": target is not a regular file"));
    }
    WalkEntry e = linkEntry(EntryStatus::Ok, {});
    e.kind = EntryKind::File;
    e.size = st.st_size;
    e.mtimeNs = mtimeOf(st);
    return emit(std::move(e));
}

}  // namespace

Expected<WalkSummary> walkTree(const fs::path& root, const WalkOptions& options,
                               const WalkCallback& callback) {
    Walker walker(options, callback);
    return walker.run(root);
}

}  // namespace lectern::walk
