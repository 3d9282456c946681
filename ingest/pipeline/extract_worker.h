// One extraction thread: takes jobs, hashes the file, decides whether the store already
// has its content, and otherwise runs the first extractor that accepts the file,
// streaming its segments to the writer in chunks. It never touches the store except to
// look up a content hash on its own read connection.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "bounded_queue.h"
#include "pipeline.h"
#include "pipeline_messages.h"

namespace lectern::ingest {

struct WorkerContext {
    BoundedQueue<ExtractJob>& jobs;
    BoundedQueue<WriterMessage>& writes;
    PipelineCounters& counters;
    const IngestOptions& options;
    const std::atomic<bool>& stop;
    std::atomic<uint64_t>& nextToken;
    int64_t collectionId = 0;
};

class ExtractWorker {
public:
    ExtractWorker(WorkerContext context, std::unique_ptr<store::Store> reader);
    void run();

private:
    void process(const ExtractJob& job);
    void extract(const ExtractJob& job, Extractor& extractor, store::DocumentWrite doc);
    void send(WriterMessage message);
    Extractor* choose(const ExtractJob& job, store::DocumentWrite& doc);

    WorkerContext ctx_;
    std::unique_ptr<store::Store> reader_;
    std::vector<std::unique_ptr<Extractor>> extractors_;
    store::TextTokenizer tokenizer_;  // pretokenizes segments for the writer's FTS5 inserts
};

// The document's metadata as a JSON object (title, author, mime type, language, pages,
// and the format-specific extras).
std::string metaToJson(const DocumentMeta& meta);

}  // namespace lectern::ingest
