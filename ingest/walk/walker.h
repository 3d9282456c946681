// The repository walker: lists the files under a root the way `git ls-files --cached
// --others --exclude-standard` would (honouring .gitignore, .git/info/exclude and the
// index through libgit2), skips vendored/generated folders, and reports every oddity
// (symlink loops, links leaving the root, vanished or unreadable entries, undecodable
// names) as an entry with a status instead of failing. It never opens file contents.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "lectern/status.h"

namespace lectern::walk {

enum class EntryKind { File, Directory, Symlink, Other };

enum class EntryStatus {
    Ok,               // a regular file (or a followed link to one) to extract
    Link,             // a symlink inside the root, recorded and not followed
    LinkOutsideRoot,  // a symlink whose target leaves the root: recorded, never followed
    LinkLoop,         // resolving the link loops (ELOOP) or re-enters an ancestor folder
    LinkBroken,       // the target does not exist
    Skipped,          // a folder skipped by rule (vendored/generated) or a FIFO, socket, device
    Vanished,         // listed, then gone before it could be examined
    Unreadable,       // stat or opendir failed (EACCES, EIO ...); message says why
};

const char* entryStatusName(EntryStatus status);

struct WalkEntry {
    std::filesystem::path path;  // absolute path, raw bytes exactly as on disk
    std::string relativePath;    // to the root, '/'-separated, escaped (see escapePath)
    EntryKind kind = EntryKind::File;
    EntryStatus status = EntryStatus::Ok;
    int64_t size = 0;        // bytes, from lstat (or stat when a link is followed)
    int64_t mtimeNs = 0;     // nanoseconds since the epoch
    std::string linkTarget;  // escaped readlink() text, for symlinks
    std::string message;     // why, for every status but Ok
};

// Folder names skipped by default wherever they appear: node_modules, vendor,
// third_party, build, dist, target, .git, __pycache__, .venv, ...
std::vector<std::string> defaultSkipDirs();

struct WalkOptions {
    bool honourGitignore = true;        // .gitignore, .git/info/exclude, core.excludesFile
    bool includeTrackedIgnored = true;  // a file in the index is listed even when ignored
    bool followSymlinks = false;        // follow links that stay inside the root
    bool reportSkipped = true;          // emit skipped folders as entries (status Skipped)
    std::vector<std::string> skipDirs = defaultSkipDirs();  // basenames; .git always skipped
    const std::atomic<bool>* cancel = nullptr;
    // Test hook: called with each listed name's absolute path after readdir and before
    // lstat, so a test can delete or replace the entry there (REPO-1 "vanished").
    std::function<void(const std::filesystem::path&)> afterListHook;
};

struct WalkSummary {
    int64_t files = 0;           // entries with status Ok
    int64_t entries = 0;         // all entries emitted
    int64_t ignoredByGit = 0;    // paths pruned by ignore rules (not emitted)
    bool gitRepository = false;  // ignore rules came from a repository
    bool cancelled = false;
};

// Receives entries in a deterministic order (names sorted bytewise, depth first).
// Returning false stops the walk (summary.cancelled).
using WalkCallback = std::function<bool(const WalkEntry&)>;

// Walks `root` (a folder, or a single file). Fails only when the root itself cannot be
// read; everything below it is reported through entries.
Expected<WalkSummary> walkTree(const std::filesystem::path& root, const WalkOptions& options,
                               const WalkCallback& callback);

// Reversible escaping of raw path bytes into valid, printable UTF-8: valid UTF-8 text is
// kept, '\\' becomes "\\\\", control bytes (< 0x20, 0x7F) and bytes that are not part of a
// valid UTF-8 sequence become "\\xHH". unescapePath(escapePath(b)) == b for all bytes b.
std::string escapePath(std::string_view raw);
Expected<std::string> unescapePath(std::string_view escaped);

}  // namespace lectern::walk
