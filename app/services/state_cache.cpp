// StateCache: the memory tiers (resident sessions, host copies; LRU under byte budgets)
// and get(), which finds the best starting state across the tiers and reads the rest.
// The disk tier (files and index rows) is in state_cache_disk.cpp.
#include "state_cache.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "state_cache_impl.h"

namespace lectern::services {
namespace {

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

int64_t sessionBytes(const Session& s) {
    return int64_t(s.state().sizeBytes()) + int64_t(s.lastLogits().size() * sizeof(float));
}

// A starting point for a prefill: a memory entry or a disk row, at a checkpoint.
struct Start {
    StateTier tier = StateTier::Rebuilt;
    Checkpoint at;
    std::optional<MemEntry> entry;  // memory tiers
    store::StateRow row;            // disk
};

}  // namespace

const char* stateTierName(StateTier tier) {
    switch (tier) {
        case StateTier::Resident:
            return "resident";
        case StateTier::Host:
            return "host";
        case StateTier::Disk:
            return "disk";
        case StateTier::Rebuilt:
            return "rebuilt";
    }
    return "?";
}

std::string modelIdOf(const Model& model) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx",
                  static_cast<unsigned long long>(model.identityHash()));
    return buf;
}

int64_t nowSeconds() {
    using namespace std::chrono;
    return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

Checkpoint checkpointAt(const DocumentText& text, int64_t position) {
    Checkpoint c;
    c.position = position;
    c.pieceCount = int64_t(text.piecesBegun(position));
    c.prefixHash = text.prefixHash(size_t(c.pieceCount));
    for (const TextPiece& p : text.pieces) {
        if (p.tokenEnd > position) break;
        c.page = std::max(c.page, p.page);
        ++c.segment;
    }
    return c;
}

bool checkpointValid(const DocumentText& text, const Checkpoint& c) {
    return c.position >= 0 && c.position <= int64_t(text.tokens.size()) &&
           int64_t(text.piecesBegun(c.position)) == c.pieceCount &&
           text.prefixHash(size_t(c.pieceCount)) == c.prefixHash;
}

// ---- memory tiers ---------------------------------------------------------------------

std::optional<MemEntry> StateCache::Impl::takeMemory(const StateKey& key) {
    std::lock_guard lock(tiers);
    for (auto* tier : {&resident, &host}) {
        auto it = std::find_if(tier->begin(), tier->end(),
                               [&](const MemEntry& e) { return e.key == key; });
        if (it == tier->end()) continue;
        MemEntry e = std::move(*it);
        (tier == &resident ? residentBytes : hostBytes) -= e.bytes;
        tier->erase(it);
        return e;
    }
    return std::nullopt;
}

void StateCache::Impl::putResident(MemEntry entry) {
    std::lock_guard lock(tiers);
    for (auto* tier : {&resident, &host}) {  // one entry per key: the newest
        for (auto it = tier->begin(); it != tier->end();) {
            if (it->key != entry.key) {
                ++it;
                continue;
            }
            (tier == &resident ? residentBytes : hostBytes) -= it->bytes;
            it = tier->erase(it);
        }
    }
    if (!entry.session) {  // from host: make it live again
        Session s = model->newSession();
        if (!s.restore(std::move(entry.state), std::move(entry.logits))) return;
        entry.session = std::move(s);
        entry.state = DocumentState();
        entry.logits.clear();
    }
    entry.bytes = sessionBytes(*entry.session);
    residentBytes += entry.bytes;
    resident.push_front(std::move(entry));
    // Over budget: the least recently used sessions spill to host memory...
    while (residentBytes > options.residentBudgetBytes && !resident.empty()) {
        MemEntry e = std::move(resident.back());
        resident.pop_back();
        residentBytes -= e.bytes;
        e.state = e.session->state();
        e.logits.assign(e.session->lastLogits().begin(), e.session->lastLogits().end());
        e.session.reset();
        hostBytes += e.bytes;
        host.push_front(std::move(e));
    }
    // ...and host copies beyond its budget are dropped (the disk tier keeps them).
    while (hostBytes > options.hostBudgetBytes && !host.empty()) {
        hostBytes -= host.back().bytes;
        host.pop_back();
    }
}

Expected<std::shared_ptr<const DocumentText>> StateCache::Impl::textFor(
    const StateKey& key, const std::string& fingerprint) {
    for (auto it = texts.begin(); it != texts.end(); ++it) {
        if ((*it)->key == key && (*it)->fingerprint == fingerprint) {
            texts.splice(texts.begin(), texts, it);
            return texts.front();
        }
    }
    Expected<SourceText> src = source->read(key);
    if (!src) return src.status();
    auto text = std::make_shared<const DocumentText>(buildDocumentText(*codec, key, *src));
    texts.remove_if([&](const auto& t) { return t->key == key; });
    texts.push_front(text);
    constexpr size_t kTextsKept = 4;  // a 1M-token text is ~16 MB with its maps
    while (texts.size() > kTextsKept) texts.pop_back();
    return text;
}

// ---- StateCache -------------------------------------------------------------------------

StateCache::StateCache(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StateCache::~StateCache() = default;

Expected<std::unique_ptr<StateCache>> StateCache::open(const Model& model, TextCodec codec,
                                                       CacheOptions options) {
    Expected<std::unique_ptr<store::Store>> st = store::Store::open(options.storeDir, {false});
    if (!st) return st.status();
    auto impl = std::make_unique<Impl>();
    impl->model = &model;
    impl->modelId = modelIdOf(model);
    impl->options = options;
    impl->store = std::move(*st);
    impl->source = std::make_unique<StoreTextSource>(*impl->store);
    impl->index = std::make_unique<store::StateIndex>(impl->store->database());
    if (Status s = impl->countDisk(); !s) return s;
    std::unique_ptr<StateCache> cache(new StateCache(std::move(impl)));
    cache->model_ = &model;
    cache->codec_ = std::move(codec);
    cache->modelId_ = cache->impl_->modelId;
    cache->options_ = options;
    cache->impl_->codec = &cache->codec_;
    return cache;
}

Expected<std::shared_ptr<const DocumentText>> StateCache::text(const StateKey& key) {
    std::lock_guard lock(impl_->work);
    Expected<std::string> fp = impl_->source->fingerprint(key);
    if (!fp) return fp.status();
    return impl_->textFor(key, *fp);
}

void StateCache::dropMemory() {
    std::lock_guard lock(impl_->tiers);
    impl_->resident.clear();
    impl_->host.clear();
    impl_->residentBytes = impl_->hostBytes = 0;
}

TierStats StateCache::stats() const {
    std::lock_guard lock(impl_->tiers);
    TierStats t;
    t.residentCount = int64_t(impl_->resident.size());
    t.residentBytes = impl_->residentBytes;
    t.residentBudget = options_.residentBudgetBytes;
    t.hostCount = int64_t(impl_->host.size());
    t.hostBytes = impl_->hostBytes;
    t.hostBudget = options_.hostBudgetBytes;
    t.diskCount = impl_->diskCount;
    t.diskBytes = impl_->diskBytes;
    t.diskBudget = options_.diskBudgetBytes;
    return t;
}

Status StateCache::remove(const StateKey& key) {
    std::lock_guard lock(impl_->work);
    impl_->takeMemory(key);
    Expected<std::vector<store::StateRow>> rows =
        impl_->index->forOwner(key.owner, key.id, impl_->modelId);
    if (!rows) return rows.status();
    for (const store::StateRow& r : *rows)
        if (Status s = impl_->drop(r); !s) return s;
    return Status::ok();
}

Expected<GcReport> StateCache::collectGarbage() {
    std::lock_guard lock(impl_->work);
    return impl_->collectGarbage();
}

// ---- get --------------------------------------------------------------------------------

namespace {

// The best valid starting point at or before `target`: the memory entry, else disk rows
// (most tokens first); a refused file is dropped and the next one tried.
Start findStart(StateCache::Impl& impl, const DocumentText& text, int64_t target,
                std::optional<MemEntry> mem, StateResult&) {
    Start best;
    if (mem && checkpointValid(text, mem->at) && mem->at.position <= target) {
        best.tier = mem->session ? StateTier::Resident : StateTier::Host;
        best.at = mem->at;
        best.entry = std::move(mem);
    }  // else: a head of the source before it changed; the new head will replace it
    Expected<std::vector<store::StateRow>> rows =
        impl.index->forOwner(text.key.owner, text.key.id, impl.modelId);
    if (!rows) return best;
    for (const store::StateRow& r : *rows) {
        const Checkpoint at{r.tokenCount, r.pieceCount, r.prefixHash, r.page, r.segment};
        if (at.position > target || !checkpointValid(text, at)) continue;
        if (best.entry && at.position <= best.at.position) break;
        best.tier = StateTier::Disk;
        best.at = at;
        best.row = r;
        best.entry.reset();
        break;
    }
    return best;
}

// Reads text[from, target) into `session`, with a snapshot at the first piece boundary
// after every `spacing` tokens. On cancel or error the state so far is kept as a snapshot.
Status readRest(StateCache::Impl& impl, const DocumentText& text, Session& session, int64_t target,
                const StateRequest& request, const std::string& fp) {
    const int64_t spacing = impl.options.persist ? impl.options.snapshotSpacingTokens : 0;
    int64_t lastSnapshot = session.position();
    const int64_t begun = session.position();
    while (session.position() < target) {
        const int64_t pos = session.position();
        int64_t stop = target;
        if (spacing > 0) {
            for (size_t i = text.piecesBegun(pos); i < text.pieces.size(); ++i) {
                const TextPiece& p = text.pieces[i];
                if (p.tokenStart >= target) break;
                if (p.boundary && p.tokenStart > pos && p.tokenStart >= lastSnapshot + spacing) {
                    stop = p.tokenStart;
                    break;
                }
            }
        }
        PrefillOptions po;
        po.cancel = request.cancel;
        if (request.progress)
            po.progress = [&](int64_t done, int64_t) { request.progress(pos + done, target); };
        const std::span<const int32_t> part(text.tokens.data() + pos, size_t(stop - pos));
        Status s = session.prefill(part, po);
        if (!s) {
            if (impl.options.persist && session.position() > begun)
                impl.save(text.key, session, checkpointAt(text, session.position()), true, fp);
            return s.withContext(text.key.describe());
        }
        if (stop < target && impl.options.persist) {
            Expected<store::StateRow> row =
                impl.save(text.key, session, checkpointAt(text, stop), true, fp);
            if (!row) return row.status();
            lastSnapshot = stop;
        }
    }
    return Status::ok();
}

// The source changed, grew, or a page was asked for: start from the best valid state and
// read the rest of the text.
Expected<StateResult> getFromText(StateCache::Impl& impl, const StateRequest& request,
                                  const std::string& fp, std::optional<MemEntry> mem,
                                  Clock::time_point t0) {
    const StateKey& key = request.key;
    Expected<std::shared_ptr<const DocumentText>> textOr = impl.textFor(key, fp);
    if (!textOr) {
        if (mem) impl.putResident(std::move(*mem));
        return textOr.status();
    }
    const DocumentText& text = **textOr;
    int64_t target = int64_t(text.tokens.size());
    if (request.asOfPage > 0) {
        Expected<int64_t> through = text.tokensThroughPage(request.asOfPage);
        if (!through) {
            if (mem) impl.putResident(std::move(*mem));
            return through.status();
        }
        target = *through;
        if (mem) {  // the head stays cached; the page state starts from a copy
            std::optional<MemEntry> copy = *mem;
            impl.putResident(std::move(*mem));
            mem = std::move(copy);
        }
    }
    StateResult result{impl.model->newSession()};
    result.text = *textOr;
    for (;;) {
        Start start = findStart(impl, text, target, std::move(mem), result);
        mem.reset();
        result.from = start.tier;
        result.resumedAt = start.at.position;
        if (start.tier == StateTier::Rebuilt) {
            result.session = impl.model->newSession();
        } else if (start.entry) {
            if (start.entry->session) {
                result.session = *start.entry->session;
            } else if (!result.session.restore(start.entry->state, start.entry->logits)) {
                continue;  // cannot happen for a host copy of this model; try the disk
            }
        } else {
            Status s = impl.load(start.row, result.session);
            if (!s) {
                result.refused.push_back(s.message());
                continue;  // the row is gone now: the next candidate
            }
            impl.index->touch(start.row.id, nowSeconds());
        }
        break;
    }
    result.loadSeconds = secondsSince(t0);
    const auto t1 = Clock::now();
    if (Status s = readRest(impl, text, result.session, target, request, fp); !s) return s;
    result.prefilled = target - result.resumedAt;
    result.prefillSeconds = secondsSince(t1);
    if (request.asOfPage > 0) return result;

    const Checkpoint at = checkpointAt(text, target);
    int64_t headRow = 0;
    if (impl.options.persist) {
        Expected<store::StateRow> row = impl.save(key, result.session, at, false, fp);
        if (!row) return row.status();
        headRow = row->id;
        // Earlier heads (the source before it grew or changed) become snapshots: still
        // starting points, and the first to go when the disk budget is short.
        Expected<std::vector<store::StateRow>> rows =
            impl.index->forOwner(key.owner, key.id, impl.modelId);
        if (rows)
            for (store::StateRow r : *rows)
                if (!r.snapshot && r.id != headRow) {
                    r.snapshot = true;
                    impl.index->put(r);
                }
        if (Status s = impl.enforceDiskBudget(headRow); !s) return s;
    }
    impl.putResident(MemEntry{key, fp, at, result.session, {}, {}, 0});
    return result;
}

}  // namespace

Expected<StateResult> StateCache::get(const StateRequest& request) {
    Impl& impl = *impl_;
    std::lock_guard lock(impl.work);
    const auto t0 = Clock::now();
    const StateKey& key = request.key;
    Expected<std::string> fp = impl.source->fingerprint(key);
    if (!fp) return fp.status();
    std::optional<MemEntry> mem = impl.takeMemory(key);

    // The whole source, unchanged: memory or the disk head, without reading any text.
    if (request.asOfPage == 0) {
        if (mem && mem->fingerprint == *fp) {
            StateResult r{mem->session ? *mem->session : model_->newSession()};
            r.from = mem->session ? StateTier::Resident : StateTier::Host;
            if (!mem->session && !r.session.restore(mem->state, mem->logits))
                return Status::error("host copy of " + key.describe() + " does not fit the model");
            r.resumedAt = mem->at.position;
            impl.putResident(std::move(*mem));
            r.loadSeconds = secondsSince(t0);
            return r;
        }
        Expected<std::vector<store::StateRow>> rows =
            impl.index->forOwner(key.owner, key.id, impl.modelId);
        if (!rows) return rows.status();
        std::vector<std::string> refused;
        for (const store::StateRow& row : *rows) {
            if (row.snapshot || row.sourceHash != *fp) continue;
            Session s = model_->newSession();
            if (Status st = impl.load(row, s); !st) {
                refused.push_back(st.message());
                continue;
            }
            impl.index->touch(row.id, nowSeconds());
            StateResult r{s};
            r.from = StateTier::Disk;
            r.resumedAt = row.tokenCount;
            r.refused = refused;
            const Checkpoint at{row.tokenCount, row.pieceCount, row.prefixHash, row.page,
                                row.segment};
            if (mem) impl.putResident(std::move(*mem));
            impl.putResident(MemEntry{key, *fp, at, std::move(s), {}, {}, 0});
            r.loadSeconds = secondsSince(t0);
            return r;
        }
        if (!refused.empty()) {
            // fall through to a rebuild, reporting why
            Expected<StateResult> r = getFromText(impl, request, *fp, std::move(mem), t0);
            if (r) r->refused.insert(r->refused.begin(), refused.begin(), refused.end());
            return r;
        }
    }
    return getFromText(impl, request, *fp, std::move(mem), t0);
}

}  // namespace lectern::services
