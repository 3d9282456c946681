// The ingest pipeline: walks the given paths, skips unchanged files (size + mtime, then
// content hash), extracts the rest on N threads and writes them through one writer
// thread into the store, each document replaced atomically. Memory stays bounded: the
// extractors stream segments through a queue limited in bytes. Cancel (Ctrl-C) stops
// the work and keeps everything already committed; every failure is recorded per
// document. Removed files are marked removed when a walk finishes uncancelled.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "lectern/status.h"

namespace lectern::ingest {

struct IngestProgress {
    int64_t filesSeen = 0;  // listed by the walk so far
    int64_t filesDone = 0;  // finished (committed, unchanged, or failed)
    int64_t filesFailed = 0;
    int64_t pages = 0;        // PDF pages extracted
    int64_t bytesToRead = 0;  // bytes of files needing extraction, known so far
    int64_t bytesRead = 0;    // of those, bytes finished
    bool walkDone = false;
    double seconds = 0;
};

struct CommittedDocument {
    std::string path;
    std::string status;
    std::string hash;
    int64_t segments = 0;
};

struct IngestOptions {
    std::filesystem::path storeDir;
    std::string collection;
    std::vector<std::filesystem::path> paths;
    std::string password;
    int extractThreads = 0;                // 0: one per hardware thread
    size_t queueBytes = size_t(64) << 20;  // segment text waiting for the writer
    size_t chunkBytes = size_t(4) << 20;   // an extractor hands over at least this much
    const std::atomic<bool>* cancel = nullptr;
    // Called about 5 times a second from the calling thread.
    std::function<void(const IngestProgress&)> progress;
    // Called from the writer thread after each commit, once per document in it.
    std::function<void(const CommittedDocument&)> committed;
    int commitDelayMs = 0;  // test hook: widens the window inside each commit
    // A transaction groups documents for at most this long (or 64 MiB of text): fewer
    // commits mean fewer FTS5 segments to merge. 0 commits after every writer message.
    double maxTransactionSeconds = 0.25;
};

struct IngestSummary {
    int64_t added = 0;
    int64_t updated = 0;
    int64_t unchanged = 0;
    int64_t removed = 0;
    int64_t failed = 0;  // documents recorded with a failure status in this run
    int64_t segments = 0;
    int64_t pages = 0;
    int64_t bytes = 0;  // bytes of the files extracted
    bool cancelled = false;
    double seconds = 0;
    std::vector<std::string> rootErrors;  // paths that could not be walked at all
};

// Fails only when the store cannot be opened or written (disk full, say); problems with
// input files are recorded per document and counted in the summary.
Expected<IngestSummary> runIngest(const IngestOptions& options);

}  // namespace lectern::ingest
