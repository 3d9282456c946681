// `lectern-cli ingest PATH... --collection NAME [--password P]`: ingest files and folders
// into a collection, incrementally, with progress on the terminal. Ctrl-C stops cleanly
// (exit 130) with everything finished so far committed.
//
// Test hooks (environment): LECTERN_REPORT_COMMITS=1 prints one line per committed
// document on stdout ("committed<TAB>status<TAB>hash<TAB>segments<TAB>path");
// LECTERN_TEST_COMMIT_DELAY_MS widens each commit so kill tests land inside commits.
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "cli/command.h"
#include "store_location.h"
#ifndef LECTERN_NO_PIPELINE
#include "pipeline/pipeline.h"
#include "pipeline/progress_display.h"
#endif

namespace lectern::cli {
namespace {

std::atomic<bool> interrupted{false};

void onInterrupt(int) {
    interrupted = true;
}

// The first Ctrl-C asks for a clean stop; SA_RESETHAND makes a second one end the process
// at once (the store stays consistent either way: SQLite commits are atomic).
void installInterruptHandler() {
    struct sigaction action = {};
    action.sa_handler = onInterrupt;
    action.sa_flags = SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
}

struct IngestArgs {
    std::vector<std::string> paths;
    std::string collection;
    std::string password;
    int threads = 0;
};

#ifndef LECTERN_NO_PIPELINE
void printSummary(const ingest::IngestSummary& s, const std::string& collection,
                  const std::filesystem::path& dir) {
    const double mb = double(s.bytes) / 1e6;
    const int64_t files = s.added + s.updated + s.failed;
    std::printf(
        "collection '%s' in %s: %lld added, %lld updated, %lld unchanged, %lld removed, "
        "%lld failed\n%lld segments, %lld pages, %.1f MB extracted in %.1f s (%.0f files/s, "
        "%.1f MB/s)\n",
        collection.c_str(), dir.c_str(), (long long)s.added, (long long)s.updated,
        (long long)s.unchanged, (long long)s.removed, (long long)s.failed, (long long)s.segments,
        (long long)s.pages, mb, s.seconds, s.seconds > 0 ? double(files) / s.seconds : 0.0,
        s.seconds > 0 ? mb / s.seconds : 0.0);
    for (const std::string& error : s.rootErrors)
        std::fprintf(stderr, "error: %s\n", error.c_str());
    if (s.failed > 0) {
        std::printf("%lld document(s) failed: see `lectern-cli status --collection %s`\n",
                    (long long)s.failed, collection.c_str());
    }
}
#endif

int runIngestCommand(const IngestArgs& args, const GlobalOptions& globals) {
    Expected<std::filesystem::path> dir = store::resolveStoreDir(globals.storeDir);
    if (!dir) {
        std::fprintf(stderr, "error: %s\n", dir.error().c_str());
        return kExitFailure;
    }
#ifdef LECTERN_NO_PIPELINE
    (void)args;
    std::fprintf(stderr, "error: this build has no ingest pipeline (extractors not built)\n");
    return kExitFailure;
#else
    installInterruptHandler();
    ingest::IngestOptions options;
    options.storeDir = *dir;
    options.collection = args.collection;
    options.password = args.password;
    options.extractThreads = args.threads;
    for (const std::string& p : args.paths) options.paths.emplace_back(p);
    options.cancel = &interrupted;
    ingest::ProgressDisplay display(stderr);
    options.progress = [&](const ingest::IngestProgress& p) { display.update(p); };
    if (const char* report = std::getenv("LECTERN_REPORT_COMMITS"); report && *report == '1') {
        options.committed = [](const ingest::CommittedDocument& d) {
            std::printf("committed\t%s\t%s\t%lld\t%s\n", d.status.c_str(), d.hash.c_str(),
                        (long long)d.segments, d.path.c_str());
            std::fflush(stdout);
        };
    }
    if (const char* delay = std::getenv("LECTERN_TEST_COMMIT_DELAY_MS")) {
        options.commitDelayMs = std::atoi(delay);
    }
    Expected<ingest::IngestSummary> summary = ingest::runIngest(options);
    display.finish();
    if (!summary) {
        std::fprintf(stderr, "error: %s\n", summary.error().c_str());
        return kExitFailure;
    }
    printSummary(*summary, args.collection, *dir);
    if (summary->cancelled) {
        std::fprintf(stderr, "interrupted: everything finished before Ctrl-C is committed\n");
        return kExitInterrupted;
    }
    return summary->failed > 0 || !summary->rootErrors.empty() ? kExitPartial : kExitOk;
#endif
}

const CommandRegistration registration{{
    "ingest",
    "Ingest files and folders into a collection (incremental; Ctrl-C keeps what is done)",
    [](CLI::App& sub, const GlobalOptions& globals) -> std::function<int()> {
        auto args = std::make_shared<IngestArgs>();
        sub.add_option("paths", args->paths, "files and folders to ingest")->required();
        sub.add_option("--collection", args->collection, "collection to ingest into")->required();
        sub.add_option("--password", args->password, "password for encrypted PDFs");
        sub.add_option("--threads", args->threads, "extraction threads (default: one per core)")
            ->check(CLI::Range(0, 256));
        return [args, &globals] { return runIngestCommand(*args, globals); };
    },
}};

}  // namespace
}  // namespace lectern::cli
