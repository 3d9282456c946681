// runIngest: wires the walk, the extraction threads and the writer together, and owns
// cancellation and the ingest lock. See pipeline.h for the contract.
#include "pipeline.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include "extract_worker.h"
#include "store_writer.h"
#include "walk/walker.h"

namespace lectern::ingest {
namespace {

// Named threads show up as such in `top -H`, perf and /proc/PID/task/*/comm, which is how
// scripts/bench_ingest.sh reports the writer's own CPU time (the ingest's bottleneck).
void nameThisThread(const char* name) {
    pthread_setname_np(pthread_self(), name);
}

// One ingest per store at a time: the lock also makes it safe to delete the pending
// contents a killed ingest left behind. flock is released by the kernel on any exit.
class IngestLock {
public:
    ~IngestLock() {
        if (fd_ >= 0) ::close(fd_);
    }
    Status acquire(const std::filesystem::path& dir) {
        const std::string path = (dir / "ingest.lock").string();
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd_ < 0) return Status::error(path + ": cannot open: " + std::strerror(errno));
        if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            return Status::error("another ingest is running on the store " + dir.string());
        }
        return Status::ok();
    }

private:
    int fd_ = -1;
};

bool isUnder(const std::string& path, const std::string& root) {
    if (path == root) return true;
    const std::string prefix = root.back() == '/' ? root : root + "/";
    return path.compare(0, prefix.size(), prefix) == 0;
}

bool searchable(const std::string& status) {
    return status == store::kStatusOk || status == store::kStatusPartial;
}

struct Walk {
    const IngestOptions& options;
    const std::map<std::string, store::KnownDocument>& known;
    BoundedQueue<ExtractJob>& jobs;
    BoundedQueue<WriterMessage>& writes;
    PipelineCounters& counters;
    const std::atomic<bool>& stop;
    int64_t collectionId;
    std::set<std::string> seen;
    std::vector<std::string> walkedRoots;
    std::vector<std::string> rootErrors;

    bool onEntry(const walk::WalkEntry& entry) {
        using walk::EntryStatus;
        const std::string key = walk::escapePath(entry.path.string());
        const auto previous = known.find(key);
        const bool isKnown = previous != known.end();
        if (entry.status == EntryStatus::Ok) {
            seen.insert(key);
            counters.filesSeen++;
            if (isKnown && previous->second.size == entry.size &&
                previous->second.mtimeNs == entry.mtimeNs && !previous->second.hash.empty() &&
                searchable(previous->second.status)) {
                counters.filesDone++;
                counters.unchanged++;
                return !stop.load();
            }
            counters.bytesToRead += entry.size;
            ExtractJob job{entry.path, key, entry.size, entry.mtimeNs, isKnown, {}};
            if (isKnown) job.previous = previous->second;
            jobs.push(std::move(job), 1);
        } else if (entry.status == EntryStatus::LinkLoop ||
                   entry.status == EntryStatus::LinkBroken ||
                   entry.status == EntryStatus::Vanished ||
                   entry.status == EntryStatus::Unreadable) {
            seen.insert(key);
            counters.filesSeen++;
            WriterMessage message;
            message.type = WriterMessage::Type::Record;
            message.replacing = isKnown;
            message.doc.collectionId = collectionId;
            message.doc.path = key;
            message.doc.status = walk::entryStatusName(entry.status);
            message.doc.error = entry.message.empty() ? key + ": " + message.doc.status
                                                      : key + ": " + entry.message;
            writes.push(std::move(message), 512);
        }
        return !stop.load();
    }

    void run() {
        walk::WalkOptions walkOptions;
        walkOptions.cancel = &stop;
        walkOptions.reportSkipped = false;
        for (const std::filesystem::path& path : options.paths) {
            std::error_code ec;
            std::filesystem::path root = std::filesystem::absolute(path, ec).lexically_normal();
            if (root.has_filename() == false && root.has_parent_path() && root != "/") {
                root = root.parent_path();  // "dir/" names the same folder as "dir"
            }
            Expected<walk::WalkSummary> summary = walk::walkTree(
                root, walkOptions, [&](const walk::WalkEntry& e) { return onEntry(e); });
            if (!summary) {
                rootErrors.push_back(summary.error());
            } else if (!summary->cancelled) {
                walkedRoots.push_back(walk::escapePath(root.string()));
            }
            if (stop.load()) return;
        }
        if (!stop.load()) markRemoved();
    }

    // Known documents under a fully walked root that the walk did not see are gone.
    void markRemoved() {
        for (const auto& [path, doc] : known) {
            if (doc.status == store::kStatusRemoved || seen.count(path)) continue;
            for (const std::string& root : walkedRoots) {
                if (!isUnder(path, root)) continue;
                WriterMessage message;
                message.type = WriterMessage::Type::Remove;
                message.documentId = doc.id;
                writes.push(std::move(message), 256);
                break;
            }
        }
    }
};

double secondsSince(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

IngestProgress snapshot(const PipelineCounters& c, double seconds) {
    IngestProgress p;
    p.filesSeen = c.filesSeen;
    p.filesDone = c.filesDone;
    p.filesFailed = c.filesFailed;
    p.pages = c.pages;
    p.bytesToRead = c.bytesToRead;
    p.bytesRead = c.bytesRead;
    p.walkDone = c.walkDone;
    p.seconds = seconds;
    return p;
}

}  // namespace

Expected<IngestSummary> runIngest(const IngestOptions& options) {
    const auto start = std::chrono::steady_clock::now();
    std::error_code ec;
    std::filesystem::create_directories(options.storeDir, ec);
    IngestLock lock;
    if (Status s = lock.acquire(options.storeDir); !s) return s;
    Expected<std::unique_ptr<store::Store>> opened = store::Store::open(options.storeDir);
    if (!opened) return opened.status();
    store::Store& store = **opened;
    if (Status s = store.collectGarbage(); !s) return s;
    Expected<int64_t> collectionId = store.ensureCollection(options.collection);
    if (!collectionId) return collectionId.status();
    Expected<std::map<std::string, store::KnownDocument>> known =
        store.knownDocuments(*collectionId);
    if (!known) return known.status();

    PipelineCounters counters;
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> nextToken{0};
    BoundedQueue<ExtractJob> jobs(256);
    BoundedQueue<WriterMessage> writes(options.queueBytes);
    Status writerStatus;
    std::atomic<bool> writerDone{false};
    std::thread writer([&] {
        nameThisThread("lectern-writer");
        StoreWriter storeWriter(store, writes, counters, options);
        writerStatus = storeWriter.run();
        if (!writerStatus) {  // a store failure ends the ingest: stop everyone
            stop = true;
            jobs.abandon();
            writes.abandon();
        }
        writerDone = true;
    });

    const int threads = options.extractThreads > 0
                            ? options.extractThreads
                            : int(std::max(1u, std::thread::hardware_concurrency()));
    std::vector<std::thread> workers;
    std::atomic<int> workersLeft{threads};
    Status readerStatus;
    for (int i = 0; i < threads; ++i) {
        Expected<std::unique_ptr<store::Store>> reader =
            store::Store::open(options.storeDir, {false, nullptr});
        if (!reader) {
            readerStatus = reader.status();
            workersLeft -= threads - i;
            stop = true;
            jobs.abandon();
            break;
        }
        WorkerContext context{jobs, writes, counters, options, stop, nextToken, *collectionId};
        workers.emplace_back([&, context, r = std::move(*reader)]() mutable {
            nameThisThread("lectern-extract");
            ExtractWorker(context, std::move(r)).run();
            workersLeft--;
        });
    }

    Walk walk{options, *known, jobs, writes, counters, stop, *collectionId, {}, {}, {}};
    std::atomic<bool> walkerDone{false};
    std::thread walker([&] {
        nameThisThread("lectern-walk");
        walk.run();
        jobs.close();
        counters.walkDone = true;
        walkerDone = true;
    });

    // The calling thread watches for cancel and reports progress until the work is done.
    bool cancelled = false;
    bool writesClosed = false;
    while (!writerDone.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (!cancelled && options.cancel && options.cancel->load()) {
            cancelled = true;
            stop = true;
            jobs.abandon();  // walk and workers stop; the writer commits what is finished
        }
        if (!writesClosed && walkerDone.load() && workersLeft.load() == 0) {
            writes.close();
            writesClosed = true;
        }
        if (options.progress) options.progress(snapshot(counters, secondsSince(start)));
    }
    walker.join();
    for (std::thread& t : workers) t.join();
    writer.join();
    if (options.progress) options.progress(snapshot(counters, secondsSince(start)));

    if (!writerStatus) return writerStatus;
    if (!readerStatus) return readerStatus;
    IngestSummary summary;
    summary.added = counters.added;
    summary.updated = counters.updated;
    summary.unchanged = counters.unchanged;
    summary.removed = counters.removed;
    summary.failed = counters.filesFailed;
    summary.segments = counters.segments;
    summary.pages = counters.pages;
    summary.bytes = counters.bytesRead;
    summary.cancelled = cancelled;
    summary.seconds = secondsSince(start);
    summary.rootErrors = walk.rootErrors;
    return summary;
}

}  // namespace lectern::ingest
