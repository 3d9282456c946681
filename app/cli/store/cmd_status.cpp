// `lectern-cli status [--collection NAME] [--json]`: what each collection holds, counts
// per document status, and every document that failed with its message.
#include <nlohmann/json.hpp>

#include <cstdio>

#include "cli/command.h"
#include "open_store.h"

namespace lectern::cli {
namespace {

struct StatusArgs {
    std::string collection;
    bool json = false;
};

void printText(const std::filesystem::path& dir,
               const std::vector<store::CollectionReport>& reports) {
    std::printf("store: %s\n", dir.c_str());
    if (reports.empty()) std::printf("no collections yet\n");
    for (const store::CollectionReport& r : reports) {
        std::printf("collection '%s': %lld documents, %lld segments, %.1f MB\n", r.name.c_str(),
                    (long long)r.documents, (long long)r.segments, double(r.bytes) / 1e6);
        for (const auto& [status, count] : r.byStatus) {
            std::printf("  %-22s %lld\n", status.c_str(), (long long)count);
        }
        if (r.replacedBytes > 0) {
            std::printf("  invalid bytes replaced: %lld\n", (long long)r.replacedBytes);
        }
        if (!r.issues.empty()) std::printf("  problems:\n");
        for (const store::DocumentIssue& issue : r.issues) {
            std::printf("    [%s] %s\n", issue.status.c_str(),
                        issue.error.empty() ? issue.path.c_str() : issue.error.c_str());
        }
    }
}

void printJson(const std::filesystem::path& dir,
               const std::vector<store::CollectionReport>& reports) {
    nlohmann::json out;
    out["store"] = dir.string();
    out["collections"] = nlohmann::json::array();
    for (const store::CollectionReport& r : reports) {
        nlohmann::json c;
        c["name"] = r.name;
        c["documents"] = r.documents;
        c["segments"] = r.segments;
        c["bytes"] = r.bytes;
        c["replaced_bytes"] = r.replacedBytes;
        c["by_status"] = r.byStatus;
        c["problems"] = nlohmann::json::array();
        for (const store::DocumentIssue& issue : r.issues) {
            c["problems"].push_back(
                {{"path", issue.path}, {"status", issue.status}, {"error", issue.error}});
        }
        out["collections"].push_back(std::move(c));
    }
    std::printf("%s\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

int runStatus(const StatusArgs& args, const GlobalOptions& globals) {
    std::unique_ptr<store::Store> store = openStoreOrReport(globals);
    if (!store) return kExitFailure;
    const std::filesystem::path& dir = store->directory();
    Expected<std::vector<store::CollectionReport>> reports = store->report(args.collection);
    if (!reports) {
        std::fprintf(stderr, "error: %s\n", reports.error().c_str());
        return kExitFailure;
    }
    if (!args.collection.empty() && reports->empty()) {
        std::fprintf(stderr, "error: no collection named '%s' in %s\n", args.collection.c_str(),
                     dir.c_str());
        return kExitFailure;
    }
    if (args.json) {
        printJson(dir, *reports);
    } else {
        printText(dir, *reports);
    }
    return kExitOk;
}

const CommandRegistration registration{{
    "status",
    "Show collections, document counts and every failed document",
    [](CLI::App& sub, const GlobalOptions& globals) -> std::function<int()> {
        auto args = std::make_shared<StatusArgs>();
        sub.add_option("--collection", args->collection, "only this collection");
        sub.add_flag("--json", args->json, "machine-readable output");
        return [args, &globals] { return runStatus(*args, globals); };
    },
}};

}  // namespace
}  // namespace lectern::cli
