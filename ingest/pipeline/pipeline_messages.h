// What flows between the pipeline's threads: jobs from the walk to the extractors, and
// messages from the extractors (and the walk) to the single writer thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "extractors/extractor.h"
#include "store.h"

namespace lectern::ingest {

struct ExtractJob {
    std::filesystem::path path;  // raw bytes, to open
    std::string key;             // the document's path in the store (escaped, UTF-8)
    int64_t size = 0;
    int64_t mtimeNs = 0;
    bool known = false;  // the collection has a row for this path
    store::KnownDocument previous;
};

struct WriterMessage {
    enum class Type {
        Chunk,   // segments of a document still being extracted (first one opens it)
        Final,   // last segments and the document row; commits the replacement
        Abort,   // extraction was cancelled: drop what the chunks wrote
        Link,    // content already stored under this hash: point the document at it
        Record,  // a document without content (a failure) or a touched unchanged one
        Touch,   // same content, new size/mtime
        Remove,  // the file is gone from disk
    };
    Type type = Type::Record;
    uint64_t token = 0;  // identifies one document's Chunk/Final/Abort sequence
    store::DocumentWrite doc;
    std::vector<Segment> segments;
    // segments[i]'s FTS5 tokens, computed on the extraction thread (empty: the writer
    // tokenizes): moves tokenizing off the single writer thread.
    std::vector<store::PretokenizedText> tokens;
    int64_t documentId = 0;  // Touch, Remove
    bool replacing = false;  // the collection had this path (counts as updated)
};

// Counters the progress display reads while the threads run.
struct PipelineCounters {
    std::atomic<int64_t> filesSeen{0}, filesDone{0}, filesFailed{0}, pages{0};
    std::atomic<int64_t> bytesToRead{0}, bytesRead{0};
    std::atomic<int64_t> added{0}, updated{0}, unchanged{0}, removed{0}, segments{0};
    std::atomic<bool> walkDone{false};
};

inline size_t messageCost(const WriterMessage& m) {
    size_t cost = 256;
    for (const Segment& s : m.segments) cost += s.text.size() + s.label.size() + 64;
    for (const store::PretokenizedText& t : m.tokens) cost += t.memoryBytes() + 64;
    return cost;
}

}  // namespace lectern::ingest
