// Shared by `lectern-cli ask`, `review` and `surprise`: opens the store, finds the
// collection (and document), loads the model with its text codec and prompt format, and
// opens the state cache beside the store. Also Ctrl-C handling and small output helpers.
#pragma once

#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/command.h"
#include "cli/store/open_store.h"
#include "model_location.h"
#include "prompt_format.h"
#include "state_cache.h"

namespace lectern::cli {

struct AskContextArgs {
    std::string model, device = "cpu", collection;
    int64_t document = 0;  // 0: none named
};

struct AskContext {
    std::unique_ptr<store::Store> store;
    std::unique_ptr<Model> model;
    std::unique_ptr<services::StateCache> cache;
    services::PromptFormat format;
    std::string modelDir;
    store::DocumentInfo document;  // when one was named
};

inline DeviceKind deviceKindOf(const std::string& d) {
    return d == "cuda" ? DeviceKind::Cuda : d == "auto" ? DeviceKind::Auto : DeviceKind::Cpu;
}

// Errors are printed (prefixed with the command's name) and null returned.
inline std::unique_ptr<AskContext> openAskContext(const char* command, const GlobalOptions& g,
                                                  const AskContextArgs& a) {
    auto fail = [&](const std::string& m) {
        std::fprintf(stderr, "lectern-cli %s: %s\n", command, m.c_str());
        return std::unique_ptr<AskContext>();
    };
    auto c = std::make_unique<AskContext>();
    c->store = openStoreOrReport(g);
    if (!c->store) return nullptr;
    auto cid = c->store->findCollection(a.collection);
    if (!cid) return fail(cid.error());
    if (*cid == 0) return fail("no collection named '" + a.collection + "'");
    if (a.document != 0) {
        auto d = c->store->documentById(a.document);
        if (!d) return fail(d.error());
        if (d->collection != a.collection)
            return fail("document " + std::to_string(a.document) + " is not in collection '" +
                        a.collection + "' (it is in '" + d->collection + "')");
        c->document = *d;
    }
    auto dir = services::resolveModelDir(a.model);
    if (!dir) return fail(dir.error());
    c->modelDir = *dir;
    auto model = Model::load(*dir, deviceKindOf(a.device));
    if (!model) return fail(model.error());
    c->model = std::make_unique<Model>(std::move(*model));
    auto codec = services::TextCodec::forModel(*dir);
    if (!codec) return fail(codec.error());
    auto format = services::promptFormatLoad(*dir);
    if (!format) return fail(format.error());
    c->format = *format;
    services::CacheOptions o;
    o.storeDir = c->store->directory();
    auto cache = services::StateCache::open(*c->model, std::move(*codec), o);
    if (!cache) return fail(cache.error());
    c->cache = std::move(*cache);
    return c;
}

// Ctrl-C sets the flag; the command finishes what it can and exits 130.
inline std::atomic<bool>& interruptFlag() {
    static std::atomic<bool> flag{false};
    return flag;
}
extern "C" inline void askOnInterrupt(int) {
    interruptFlag().store(true);
}
inline void installInterrupt() {
    struct sigaction action {};
    action.sa_handler = askOnInterrupt;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
}

// A progress line on stderr while a state is read, when stderr is a terminal.
inline std::function<void(int64_t, int64_t)> terminalProgress(const char* what, bool enabled) {
    if (!enabled) return {};
    return [what](int64_t done, int64_t total) {
        std::fprintf(stderr, "\r%s: %lld / %lld tokens", what, (long long)done, (long long)total);
        if (done >= total) std::fprintf(stderr, "\n");
    };
}

// Whitespace runs become one space (snippets and excerpts on one terminal line).
inline std::string oneLine(std::string_view text) {
    std::string out;
    bool space = false;
    for (char c : text) {
        if (c == '\n' || c == '\r' || c == '\t' || c == ' ' || c == '\f') {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        out += c;
    }
    return out;
}

}  // namespace lectern::cli
