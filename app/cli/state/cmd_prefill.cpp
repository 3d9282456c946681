// `lectern-cli prefill --collection NAME [--document ID] [--model DIR] [--device cpu|cuda|auto]
// [--snapshot-every N]`: reads documents into the state cache in the background thread of
// the prefill service, with progress on stderr. Without --document: every document of the
// collection, then the collection as one stream. Ctrl-C stops it; what was read is kept
// (a snapshot) and the next run resumes from it.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>

#include "cli/state/state_cli.h"
#include "prefill_service.h"

namespace lectern::cli {
namespace {

struct PrefillArgs {
    std::string collection, model, device = "cpu";
    int64_t document = 0;
    int64_t snapshotEvery = int64_t(1) << 16;
    bool noCollection = false;
};

std::atomic<bool> gInterrupted{false};
extern "C" void onPrefillInterrupt(int) {
    gInterrupted.store(true);
}

Expected<std::vector<services::StateKey>> keysFor(const PrefillArgs& a, store::Store& st) {
    Expected<int64_t> collection = st.findCollection(a.collection);
    if (!collection) return collection.status();
    if (*collection == 0) return Status::error("no collection named \"" + a.collection + "\"");
    std::vector<services::StateKey> keys;
    if (a.document != 0) {
        Expected<store::DocumentInfo> doc = st.documentById(a.document);
        if (!doc) return doc.status();
        if (doc->collectionId != *collection)
            return Status::error("document " + std::to_string(a.document) +
                                 " is not in collection \"" + a.collection + "\"");
        keys.push_back(services::StateKey::document(a.document));
        return keys;
    }
    Expected<std::vector<store::DocumentInfo>> docs = st.listDocuments(a.collection);
    if (!docs) return docs.status();
    for (const store::DocumentInfo& d : *docs)
        if (d.segmentCount > 0) keys.push_back(services::StateKey::document(d.id));
    if (!a.noCollection) keys.push_back(services::StateKey::collection(*collection));
    return keys;
}

int runPrefill(const PrefillArgs& a, const GlobalOptions& globals) {
    services::CacheOptions options;
    options.snapshotSpacingTokens = a.snapshotEvery;
    CacheHandle h;
    if (Status s = openCache(globals, a.model, a.device, options, h); !s)
        return stateFail("prefill", s.message());
    Expected<std::unique_ptr<store::Store>> st =
        store::Store::open(h.cache->options().storeDir, {false});
    if (!st) return stateFail("prefill", st.error());
    Expected<std::vector<services::StateKey>> keys = keysFor(a, **st);
    if (!keys) return stateFail("prefill", keys.error());

    services::PrefillService service(*h.cache);
    std::atomic<int64_t> lastShown{-1};
    auto progress = [&](const services::PrefillProgress& p) {
        const int64_t pct = p.total > 0 ? p.done * 100 / p.total : 100;
        if (pct == lastShown.exchange(pct)) return;
        std::fprintf(stderr, "\r[%zu/%zu] %s: %lld/%lld tokens (%lld%%)   ", p.index + 1, p.count,
                     p.key.describe().c_str(), static_cast<long long>(p.done),
                     static_cast<long long>(p.total), static_cast<long long>(pct));
    };
    auto old = std::signal(SIGINT, onPrefillInterrupt);
    if (Status s = service.start(*keys, progress); !s) return stateFail("prefill", s.message());
    while (service.running()) {
        if (gInterrupted.load()) service.cancel();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const services::PrefillReport report = service.wait();
    std::signal(SIGINT, old);
    std::fprintf(stderr, "\n");
    if (report.cancelled) {
        std::fprintf(stderr, "interrupted: %zu of %zu sources complete; what was read is kept\n",
                     report.finished, keys->size());
        return kExitInterrupted;
    }
    for (const std::string& f : report.failures) std::fprintf(stderr, "prefill: %s\n", f.c_str());
    const services::TierStats t = h.cache->stats();
    std::fprintf(stderr,
                 "%zu sources ready, %lld tokens read in %.1f s; on disk: %lld states, %s\n",
                 report.finished, static_cast<long long>(report.tokens), report.seconds,
                 static_cast<long long>(t.diskCount), mebibytes(t.diskBytes).c_str());
    if (!report.failures.empty())
        return report.finished > 0 ? kExitPartial : stateFail("prefill", report.status.message());
    return kExitOk;
}

const CommandRegistration registration{{
    "prefill",
    "Read documents (and the collection as a whole) into the model's state cache",
    [](CLI::App& sub, const GlobalOptions& globals) -> std::function<int()> {
        auto a = std::make_shared<PrefillArgs>();
        sub.add_option("--collection", a->collection, "collection name")->required();
        sub.add_option("--document", a->document, "only this document id");
        sub.add_option("--model", a->model, "model folder (default: the bundled model)");
        sub.add_option("--device", a->device, "cpu, cuda or auto")
            ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
        sub.add_option("--snapshot-every", a->snapshotEvery,
                       "tokens between snapshots at page/file boundaries (0: none)")
            ->check(CLI::NonNegativeNumber);
        sub.add_flag("--no-collection", a->noCollection,
                     "only the documents, not the collection as one stream");
        return [a, &globals] { return runPrefill(*a, globals); };
    },
}};

}  // namespace
}  // namespace lectern::cli
