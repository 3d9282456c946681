// The state cache's disk tier: state files under <store>/states/<model id>/, written
// atomically (engine/io/state_file: temp file, fsync, rename) BEFORE their index row, so a
// crash leaves at worst a file without a row, which collectGarbage removes. Every load
// goes through the state file's checks (model identity, shapes, checksums); a refused file
// is dropped with its row, and the caller rebuilds from an earlier point.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <thread>

#include "io/state_file.h"
#include "state_cache_impl.h"

namespace lectern::services {
namespace fs = std::filesystem;

fs::path StateCache::Impl::absolute(const std::string& relative) const {
    return options.storeDir / relative;
}

Status StateCache::Impl::countDisk() {
    Expected<store::Stmt> s = store->database().prepare(
        "SELECT count(*), coalesce(sum(bytes), 0) FROM model_states WHERE model_id = ?1");
    if (!s) return s.status();
    s->bind(1, modelId);
    Expected<bool> row = s->step();
    if (!row) return row.status();
    std::lock_guard lock(tiers);
    diskCount = *row ? s->columnInt(0) : 0;
    diskBytes = *row ? s->columnInt(1) : 0;
    return Status::ok();
}

Expected<store::StateRow> StateCache::Impl::save(const StateKey& key, const Session& session,
                                                 const Checkpoint& at, bool snapshot,
                                                 const std::string& sourceHash) {
    const bool doc = key.owner == store::StateOwner::Document;
    store::StateRow row;
    row.owner = key.owner;
    row.ownerId = key.id;
    row.modelId = modelId;
    row.snapshot = snapshot;
    row.tokenCount = at.position;
    row.pieceCount = at.pieceCount;
    row.page = at.page;
    row.segment = at.segment;
    row.prefixHash = at.prefixHash;
    row.sourceHash = sourceHash;
    row.path = "states/" + modelId + "/" + (doc ? "d" : "c") + std::to_string(key.id) + "-" +
               std::to_string(at.position) + ".state";
    const fs::path file = absolute(row.path);
    std::error_code ec;
    fs::create_directories(file.parent_path(), ec);
    if (ec)
        return Status::error("cannot create " + file.parent_path().string() + ": " + ec.message());
    if (Status s = io::stateSave(file.string(), *model, session); !s) return s;
    // Crash tests widen the window between the file and its row, where a kill leaves a
    // file without a row (which must never be used, and which gc removes).
    static const int delayMs = [] {
        const char* v = std::getenv("LECTERN_TEST_STATE_WRITE_DELAY_MS");
        return v ? std::atoi(v) : 0;
    }();
    if (delayMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delayMs));
    row.bytes = int64_t(fs::file_size(file, ec));
    row.createdAt = row.lastUsed = nowSeconds();
    Expected<int64_t> id = index->put(row);
    if (!id) return id.status();
    row.id = *id;
    if (Status s = countDisk(); !s) return s;
    return row;
}

Status StateCache::Impl::load(const store::StateRow& row, Session& session) {
    const fs::path file = absolute(row.path);
    Session candidate = session;
    Status s = io::stateLoad(file.string(), *model, candidate);
    if (s && candidate.position() != row.tokenCount)
        s = Status::error("state " + file.string() + " holds " +
                          std::to_string(candidate.position()) + " tokens, its index row " +
                          std::to_string(row.tokenCount));
    if (!s) {
        drop(row);
        return s;
    }
    session = std::move(candidate);
    return Status::ok();
}

Status StateCache::Impl::drop(const store::StateRow& row) {
    // Row first: a crash in between leaves a file without a row, never the reverse.
    if (Status s = index->remove(row.id); !s) return s;
    std::error_code ec;
    fs::remove(absolute(row.path), ec);
    return countDisk();
}

Status StateCache::Impl::enforceDiskBudget(int64_t keepRowId) {
    Expected<std::vector<store::StateRow>> rows = index->all();  // least recently used first
    if (!rows) return rows.status();
    int64_t total = 0;
    for (const auto& r : *rows)
        if (r.modelId == modelId) total += r.bytes;
    // Snapshots go first, then heads; the state just written stays.
    for (bool snapshots : {true, false}) {
        for (const auto& r : *rows) {
            if (total <= options.diskBudgetBytes) return Status::ok();
            if (r.modelId != modelId || r.snapshot != snapshots || r.id == keepRowId) continue;
            if (Status s = drop(r); !s) return s;
            total -= r.bytes;
        }
    }
    return Status::ok();
}

// Document rows whose document was removed from its collection (the row stays in the
// store with status "removed", so the foreign key does not cascade).
Expected<std::vector<int64_t>> removedDocuments(store::Db& db) {
    Expected<store::Stmt> s = db.prepare("SELECT id FROM documents WHERE status = 'removed'");
    if (!s) return s.status();
    std::vector<int64_t> ids;
    for (;;) {
        Expected<bool> row = s->step();
        if (!row) return row.status();
        if (!*row) return ids;
        ids.push_back(s->columnInt(0));
    }
}

Expected<GcReport> StateCache::Impl::collectGarbage() {
    GcReport report;
    Expected<std::vector<store::StateRow>> rows = index->all();
    if (!rows) return rows.status();
    Expected<std::vector<int64_t>> removed = removedDocuments(store->database());
    if (!removed) return removed.status();
    std::vector<std::string> kept;
    for (const store::StateRow& r : *rows) {
        if (r.owner == store::StateOwner::Document &&
            std::find(removed->begin(), removed->end(), r.ownerId) != removed->end()) {
            if (Status s = drop(r); !s) return s;
            ++report.rowsRemoved;
            ++report.filesRemoved;
            report.bytesFreed += r.bytes;
            continue;
        }
        std::error_code ec;
        const fs::path file = absolute(r.path);
        bool bad = !fs::is_regular_file(file, ec);
        if (!bad && r.modelId == modelId) {  // this model's files are checked whole
            Session probe = model->newSession();
            bad = !load(r, probe);  // load() already dropped it
            if (bad) {
                ++report.rowsRemoved;
                ++report.filesRemoved;
                report.bytesFreed += r.bytes;
                continue;
            }
        }
        if (bad) {
            if (Status s = drop(r); !s) return s;
            ++report.rowsRemoved;
            continue;
        }
        kept.push_back(fs::path(r.path).lexically_normal().string());
    }
    // Files no row names: a state written by a process killed before its row, or a temp
    // file of an interrupted atomic write. Young files may belong to a writer still running.
    const fs::path dir = options.storeDir / "states";
    std::error_code ec;
    std::vector<fs::path> orphans;
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        if (!it->is_regular_file(ec)) continue;
        const std::string rel = it->path().lexically_relative(options.storeDir).string();
        if (std::find(kept.begin(), kept.end(), rel) != kept.end()) continue;
        const auto age = fs::file_time_type::clock::now() - it->last_write_time(ec);
        if (!ec && age < std::chrono::seconds(10)) continue;
        orphans.push_back(it->path());
    }
    for (const fs::path& p : orphans) {
        const auto size = fs::file_size(p, ec);
        if (fs::remove(p, ec)) {
            ++report.filesRemoved;
            report.bytesFreed += ec ? 0 : int64_t(size);
        }
    }
    if (Status s = enforceDiskBudget(0); !s) return s;
    if (Status s = countDisk(); !s) return s;
    return report;
}

}  // namespace lectern::services
