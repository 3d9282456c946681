// `lectern-cli state ls|rm|gc`: see and manage the saved model states of a store.
//   ls [--json]                              every state file: owner, model, tokens, kind
//   rm --collection NAME [--document ID]     drop a collection's (or one document's) states,
//                                            for every model
//   gc [--model DIR]                         drop files without a row, rows without a file,
//                                            damaged files of the model, then enforce the
//                                            disk budget
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "cli/state/state_cli.h"

namespace lectern::cli {
namespace {

struct StateArgs {
    std::string action, collection, model, device = "cpu";
    int64_t document = 0;
    int64_t diskBudgetMiB = 16 * 1024;
    bool json = false;
};

Expected<std::unique_ptr<store::Store>> openStore(const GlobalOptions& globals) {
    Expected<std::filesystem::path> dir = store::resolveStoreDir(globals.storeDir);
    if (!dir) return dir.status();
    return store::Store::open(*dir, {false});
}

int runList(const StateArgs& a, store::Store& st) {
    store::StateIndex index(st.database());
    Expected<std::vector<store::StateRow>> rows = index.all();
    if (!rows) return stateFail("state ls", rows.error());
    nlohmann::json out = nlohmann::json::array();
    int64_t total = 0;
    for (const store::StateRow& r : *rows) {
        Expected<std::string> name = index.ownerName(r.owner, r.ownerId);
        const std::string owner = name ? *name : std::string();
        total += r.bytes;
        if (a.json) {
            out.push_back({{"id", r.id},
                           {"kind", store::stateOwnerName(r.owner)},
                           {"owner_id", r.ownerId},
                           {"owner", owner},
                           {"model", r.modelId},
                           {"snapshot", r.snapshot},
                           {"tokens", r.tokenCount},
                           {"page", r.page},
                           {"bytes", r.bytes},
                           {"path", r.path},
                           {"last_used", r.lastUsed}});
            continue;
        }
        std::printf("%-10s %-6lld %-8s %10lld tokens  %-10s %s  %s\n",
                    store::stateOwnerName(r.owner), static_cast<long long>(r.ownerId),
                    r.snapshot ? "snapshot" : "head", static_cast<long long>(r.tokenCount),
                    mebibytes(r.bytes).c_str(), r.modelId.c_str(), owner.c_str());
    }
    if (a.json) {
        std::printf("%s\n",
                    out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
        std::printf("%zu states, %s\n", rows->size(), mebibytes(total).c_str());
    }
    return kExitOk;
}

int runRemove(const StateArgs& a, store::Store& st) {
    if (a.collection.empty()) return stateFail("state rm", "--collection NAME is required");
    Expected<int64_t> cid = st.findCollection(a.collection);
    if (!cid) return stateFail("state rm", cid.error());
    if (*cid == 0) return stateFail("state rm", "no collection named \"" + a.collection + "\"");
    store::StateIndex index(st.database());
    Expected<std::vector<store::StateRow>> rows = index.all();
    if (!rows) return stateFail("state rm", rows.error());
    std::vector<int64_t> documents;
    if (a.document == 0) {
        Expected<std::vector<store::DocumentInfo>> docs = st.listDocuments(a.collection);
        if (!docs) return stateFail("state rm", docs.error());
        for (const auto& d : *docs) documents.push_back(d.id);
    } else {
        documents.push_back(a.document);
    }
    int64_t removed = 0, bytes = 0;
    for (const store::StateRow& r : *rows) {
        const bool mine =
            r.owner == store::StateOwner::Collection
                ? a.document == 0 && r.ownerId == *cid
                : std::find(documents.begin(), documents.end(), r.ownerId) != documents.end();
        if (!mine) continue;
        if (Status s = index.remove(r.id); !s) return stateFail("state rm", s.message());
        std::error_code ec;
        std::filesystem::remove(st.directory() / r.path, ec);
        ++removed;
        bytes += r.bytes;
    }
    std::printf("removed %lld states (%s)\n", static_cast<long long>(removed),
                mebibytes(bytes).c_str());
    return kExitOk;
}

int runGc(const StateArgs& a, const GlobalOptions& globals) {
    services::CacheOptions options;
    options.diskBudgetBytes = a.diskBudgetMiB << 20;
    CacheHandle h;
    if (Status s = openCache(globals, a.model, a.device, options, h); !s)
        return stateFail("state gc", s.message());
    Expected<services::GcReport> r = h.cache->collectGarbage();
    if (!r) return stateFail("state gc", r.error());
    const services::TierStats t = h.cache->stats();
    std::printf("removed %lld files and %lld rows (%s); %lld states of this model, %s\n",
                static_cast<long long>(r->filesRemoved), static_cast<long long>(r->rowsRemoved),
                mebibytes(r->bytesFreed).c_str(), static_cast<long long>(t.diskCount),
                mebibytes(t.diskBytes).c_str());
    return kExitOk;
}

int runState(const StateArgs& a, const GlobalOptions& globals) {
    if (a.action == "gc") return runGc(a, globals);
    Expected<std::unique_ptr<store::Store>> st = openStore(globals);
    if (!st) return stateFail("state", st.error());
    return a.action == "ls" ? runList(a, **st) : runRemove(a, **st);
}

const CommandRegistration registration{{
    "state",
    "List (ls), remove (rm) or garbage-collect (gc) saved model states",
    [](CLI::App& sub, const GlobalOptions& globals) -> std::function<int()> {
        auto a = std::make_shared<StateArgs>();
        sub.add_option("action", a->action, "ls, rm or gc")
            ->required()
            ->check(CLI::IsMember({"ls", "rm", "gc"}));
        sub.add_option("--collection", a->collection, "rm: the collection");
        sub.add_option("--document", a->document, "rm: only this document id");
        sub.add_option("--model", a->model, "gc: model folder (default: the bundled model)");
        sub.add_option("--device", a->device, "gc: cpu, cuda or auto")
            ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
        sub.add_option("--disk-budget-mib", a->diskBudgetMiB, "gc: keep state files under this")
            ->check(CLI::PositiveNumber);
        sub.add_flag("--json", a->json, "ls: machine-readable output");
        return [a, &globals] { return runState(*a, globals); };
    },
}};

}  // namespace
}  // namespace lectern::cli
