// The pipeline's single writer: applies WriterMessages to the store in grouped
// transactions (a commit every 250 ms, or every 64 MiB of text, or at the end), so each
// document's replacement is atomic while small files do not each pay for a commit.
// Streamed chunks of a large document go into a "pending" content that no document
// points at until its Final message, which keeps memory bounded and the swap atomic.
#pragma once

#include <functional>
#include <map>
#include <memory>

#include "bounded_queue.h"
#include "pipeline.h"
#include "pipeline_messages.h"

namespace lectern::ingest {

class StoreWriter {
public:
    StoreWriter(store::Store& store, BoundedQueue<WriterMessage>& queue, PipelineCounters& counters,
                const IngestOptions& options);
    // Runs until the queue is closed and drained, or a store write fails (then returns
    // that error after rolling back the open transaction).
    Status run();

private:
    Status apply(WriterMessage& message);
    Status applyFinal(WriterMessage& message);
    Status applyLink(WriterMessage& message);
    Status appendSegments(uint64_t token, const WriterMessage& message);
    Status ensureTransaction();
    Status commit();
    void noteDocument(const store::DocumentWrite& doc, int64_t segments, bool replacing);

    store::Store& store_;
    BoundedQueue<WriterMessage>& queue_;
    PipelineCounters& counters_;
    const IngestOptions& options_;
    bool inTransaction_ = false;
    int64_t transactionBytes_ = 0;
    double transactionStart_ = 0;
    struct Pending {
        int64_t contentId = 0;
        int64_t segments = 0;
        int64_t textBytes = 0;
    };
    std::map<uint64_t, Pending> pending_;         // documents whose chunks are streaming in
    std::vector<CommittedDocument> uncommitted_;  // reported once the commit succeeds
};

}  // namespace lectern::ingest
