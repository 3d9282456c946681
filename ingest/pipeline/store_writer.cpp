// The single writer thread; see store_writer.h.
#include "store_writer.h"

#include <chrono>
#include <thread>

namespace lectern::ingest {
namespace {

constexpr int64_t kMaxTransactionBytes = int64_t(64) << 20;

double nowSeconds() {
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

bool searchable(const std::string& status) {
    return status == store::kStatusOk || status == store::kStatusPartial;
}

}  // namespace

StoreWriter::StoreWriter(store::Store& store, BoundedQueue<WriterMessage>& queue,
                         PipelineCounters& counters, const IngestOptions& options)
    : store_(store), queue_(queue), counters_(counters), options_(options) {}

Status StoreWriter::run() {
    for (;;) {
        std::optional<WriterMessage> message = queue_.tryPop();
        if (!message && inTransaction_) {
            // Each commit makes FTS5 write a new index segment that must be merged later,
            // so a young transaction waits a little for more work before committing.
            const double left = options_.maxTransactionSeconds - (nowSeconds() - transactionStart_);
            if (left > 0) message = queue_.popFor(std::chrono::duration<double>(left));
            if (!message) {
                if (Status s = commit(); !s) return s;
            }
        }
        if (!message) {
            message = queue_.pop();
            if (!message) break;
        }
        if (Status s = apply(*message); !s) {
            store_.rollback();
            return s;
        }
        if (inTransaction_ &&
            (transactionBytes_ > kMaxTransactionBytes ||
             nowSeconds() - transactionStart_ >= options_.maxTransactionSeconds)) {
            if (Status s = commit(); !s) return s;
        }
    }
    return commit();
}

Status StoreWriter::ensureTransaction() {
    if (inTransaction_) return Status::ok();
    if (Status s = store_.begin(); !s) return s;
    inTransaction_ = true;
    transactionBytes_ = 0;
    transactionStart_ = nowSeconds();
    return Status::ok();
}

Status StoreWriter::commit() {
    if (!inTransaction_) return Status::ok();
    if (options_.commitDelayMs > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(options_.commitDelayMs));
    }
    Status s = store_.commit();
    if (!s) {
        store_.rollback();
        inTransaction_ = false;
        return s;
    }
    inTransaction_ = false;
    if (options_.committed) {
        for (const CommittedDocument& doc : uncommitted_) options_.committed(doc);
    }
    uncommitted_.clear();
    return Status::ok();
}

void StoreWriter::noteDocument(const store::DocumentWrite& doc, int64_t segments, bool replacing) {
    uncommitted_.push_back({doc.path, doc.status, doc.hash, segments});
    counters_.filesDone++;
    if (!searchable(doc.status)) {
        counters_.filesFailed++;
    } else if (replacing) {
        counters_.updated++;
    } else {
        counters_.added++;
    }
}

Status StoreWriter::appendSegments(uint64_t token, const WriterMessage& message) {
    Pending& pending = pending_[token];
    if (pending.contentId == 0) {
        Expected<int64_t> id = store_.createPendingContent(message.doc.hash, message.doc.kind);
        if (!id) return id.status();
        pending.contentId = *id;
    }
    for (size_t i = 0; i < message.segments.size(); ++i) {
        const Segment& segment = message.segments[i];
        const store::PretokenizedText* tokens =
            i < message.tokens.size() ? &message.tokens[i] : nullptr;
        if (Status s = store_.appendSegment(pending.contentId, pending.segments, segment, tokens);
            !s) {
            return s;
        }
        pending.segments++;
        pending.textBytes += int64_t(segment.text.size());
        transactionBytes_ += int64_t(segment.text.size());
    }
    counters_.segments += int64_t(message.segments.size());
    return Status::ok();
}

Status StoreWriter::apply(WriterMessage& message) {
    if (Status s = ensureTransaction(); !s) return s;
    using Type = WriterMessage::Type;
    switch (message.type) {
        case Type::Chunk:
            return appendSegments(message.token, message);
        case Type::Final:
            return applyFinal(message);
        case Type::Abort: {
            auto it = pending_.find(message.token);
            if (it == pending_.end()) return Status::ok();
            const int64_t contentId = it->second.contentId;
            pending_.erase(it);
            return store_.dropContent(contentId);
        }
        case Type::Link:
            return applyLink(message);
        case Type::Record:
            if (Status s = store_.putDocument(message.doc); !s) return s;
            noteDocument(message.doc, 0, message.replacing);
            return Status::ok();
        case Type::Touch:
            counters_.filesDone++;
            counters_.unchanged++;
            return store_.touchDocument(message.documentId, message.doc.size, message.doc.mtimeNs);
        case Type::Remove:
            counters_.removed++;
            return store_.markRemoved(message.documentId);
    }
    return Status::ok();
}

Status StoreWriter::applyFinal(WriterMessage& message) {
    store::DocumentWrite& doc = message.doc;
    const bool keep = searchable(doc.status);
    if (keep || pending_.count(message.token)) {
        if (Status s = appendSegments(message.token, message); !s) return s;
    }
    int64_t segments = 0;
    if (auto it = pending_.find(message.token); it != pending_.end()) {
        const Pending pending = it->second;
        pending_.erase(it);
        if (keep) {
            Expected<int64_t> id =
                store_.completeContent(pending.contentId, pending.segments, pending.textBytes);
            if (!id) return id.status();
            doc.contentId = *id;
            segments = pending.segments;
        } else if (Status s = store_.dropContent(pending.contentId); !s) {
            return s;
        }
    }
    if (Status s = store_.putDocument(doc); !s) return s;
    counters_.bytesRead += doc.size;
    noteDocument(doc, segments, message.replacing);
    return Status::ok();
}

Status StoreWriter::applyLink(WriterMessage& message) {
    store::DocumentWrite& doc = message.doc;
    Expected<int64_t> id = store_.findContent(doc.hash, doc.kind);
    if (!id) return id.status();
    int64_t segments = 0;
    if (*id == 0) {  // its last user was replaced since the extractor looked it up
        doc.status = "error";
        doc.error = doc.path + ": identical content was removed during this ingest; ingest again";
        doc.mtimeNs = 0;  // so the next run does not skip it
    } else {
        doc.contentId = *id;
        Expected<int64_t> count = store_.contentSegmentCount(*id);
        if (!count) return count.status();
        segments = *count;
    }
    if (Status s = store_.putDocument(doc); !s) return s;
    counters_.bytesRead += doc.size;
    noteDocument(doc, segments, message.replacing);
    return Status::ok();
}

}  // namespace lectern::ingest
