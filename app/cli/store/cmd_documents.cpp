// `lectern-cli documents --collection NAME [--json]`: the documents of a collection with
// the ids that `ask --document`, `surprise --document` and `prefill --document` take.
#include <nlohmann/json.hpp>

#include <cstdio>

#include "cli/command.h"
#include "open_store.h"

namespace lectern::cli {
namespace {

struct DocumentsArgs {
    std::string collection;
    bool json = false;
};

void printText(const std::vector<store::DocumentInfo>& docs) {
    std::printf("%6s  %-8s  %-10s  %6s  %10s  %s\n", "id", "status", "kind", "pages", "bytes",
                "path");
    for (const store::DocumentInfo& d : docs) {
        std::printf("%6lld  %-8s  %-10s  %6lld  %10lld  %s\n", (long long)d.id, d.status.c_str(),
                    d.kind.c_str(), (long long)d.pageCount, (long long)d.size, d.path.c_str());
        if (!d.error.empty()) std::printf("        %s\n", d.error.c_str());
    }
}

void printJson(const std::vector<store::DocumentInfo>& docs) {
    nlohmann::json out = nlohmann::json::array();
    for (const store::DocumentInfo& d : docs) {
        out.push_back({{"id", d.id},
                       {"path", d.path},
                       {"kind", d.kind},
                       {"status", d.status},
                       {"error", d.error},
                       {"size", d.size},
                       {"pages", d.pageCount},
                       {"segments", d.segmentCount},
                       {"text_bytes", d.textBytes}});
    }
    std::printf("%s\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

int runDocuments(const DocumentsArgs& args, const GlobalOptions& globals) {
    std::unique_ptr<store::Store> store = openStoreOrReport(globals);
    if (!store) return kExitFailure;
    Expected<int64_t> id = store->findCollection(args.collection);
    if (!id) {
        std::fprintf(stderr, "error: %s\n", id.error().c_str());
        return kExitFailure;
    }
    if (*id == 0) {
        std::fprintf(stderr, "error: no collection named '%s' in %s\n", args.collection.c_str(),
                     store->directory().c_str());
        return kExitFailure;
    }
    Expected<std::vector<store::DocumentInfo>> docs = store->listDocuments(args.collection);
    if (!docs) {
        std::fprintf(stderr, "error: %s\n", docs.error().c_str());
        return kExitFailure;
    }
    if (args.json) {
        printJson(*docs);
    } else {
        printText(*docs);
    }
    return kExitOk;
}

const CommandRegistration registration{{
    "documents",
    "List a collection's documents with their ids (for ask, surprise and prefill --document)",
    [](CLI::App& sub, const GlobalOptions& globals) -> std::function<int()> {
        auto args = std::make_shared<DocumentsArgs>();
        sub.add_option("--collection", args->collection, "the collection")->required();
        sub.add_flag("--json", args->json, "machine-readable output");
        return [args, &globals] { return runDocuments(*args, globals); };
    },
}};

}  // namespace
}  // namespace lectern::cli
