// Extraction threads; see extract_worker.h.
#include "extract_worker.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>

#include "content_hash.h"

namespace lectern::ingest {
namespace {

void appendJsonString(std::string& out, std::string_view text) {
    out += '"';
    for (const char c : text) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char escaped[8];
                    std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
                    out += escaped;
                } else {
                    out += c;
                }
        }
    }
    out += '"';
}

// Reads the first bytes for the extractors' magic sniffing; errno is kept on failure.
bool readHead(const std::filesystem::path& path, std::string& head) {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (!file) return false;
    head.resize(4096);
    head.resize(std::fread(head.data(), 1, head.size(), file));
    std::fclose(file);
    return true;
}

std::string fileErrorStatus(int error) {
    return error == ENOENT || error == ENOTDIR ? "vanished" : "error";
}

}  // namespace

std::string metaToJson(const DocumentMeta& meta) {
    std::string out = "{";
    auto field = [&](const char* key, const std::string& value) {
        if (value.empty()) return;
        if (out.size() > 1) out += ',';
        appendJsonString(out, key);
        out += ':';
        appendJsonString(out, value);
    };
    field("title", meta.title);
    field("author", meta.author);
    field("mime", meta.mimeType);
    field("language", meta.language);
    if (meta.pageCount > 0) field("pages", std::to_string(meta.pageCount));
    for (const auto& [key, value] : meta.extra) field(key.c_str(), value);
    return out + "}";
}

ExtractWorker::ExtractWorker(WorkerContext context, std::unique_ptr<store::Store> reader)
    : ctx_(context), reader_(std::move(reader)), extractors_(makeDefaultExtractors()) {}

void ExtractWorker::run() {
    while (std::optional<ExtractJob> job = ctx_.jobs.pop()) {
        if (ctx_.stop.load()) break;
        process(*job);
    }
}

void ExtractWorker::send(WriterMessage message) {
    const size_t cost = messageCost(message);
    ctx_.writes.push(std::move(message), cost);
}

Extractor* ExtractWorker::choose(const ExtractJob& job, store::DocumentWrite& doc) {
    std::string head;
    if (!readHead(job.path, head)) {
        const int error = errno;
        doc.status = fileErrorStatus(error);
        doc.error = doc.path + ": cannot open: " + std::strerror(error);
        return nullptr;
    }
    for (const auto& extractor : extractors_) {
        if (extractor->accepts(job.path, head)) return extractor.get();
    }
    doc.status = "skipped: unsupported";
    doc.error = doc.path + ": no extractor handles this kind of file";
    return nullptr;
}

void ExtractWorker::process(const ExtractJob& job) {
    store::DocumentWrite doc;
    doc.collectionId = ctx_.collectionId;
    doc.path = job.key;
    doc.size = job.size;
    doc.mtimeNs = job.mtimeNs;
    WriterMessage message;
    message.replacing = job.known;

    Expected<std::string> hash = store::hashFile(job.path, &ctx_.stop);
    if (ctx_.stop.load()) return;
    Extractor* extractor = nullptr;
    if (!hash) {
        const int error = errno;
        doc.status = fileErrorStatus(error);
        doc.error = hash.error();
    } else {
        doc.hash = *hash;
        extractor = choose(job, doc);
    }
    if (!extractor) {
        message.type = WriterMessage::Type::Record;
        message.doc = std::move(doc);
        return send(std::move(message));
    }
    doc.kind = extractor->name();
    const store::KnownDocument& previous = job.previous;
    if (job.known && previous.hash == doc.hash && previous.kind == doc.kind &&
        (previous.status == store::kStatusOk || previous.status == store::kStatusPartial)) {
        message.type = WriterMessage::Type::Touch;
        message.documentId = previous.id;
        message.doc = std::move(doc);
        return send(std::move(message));
    }
    Expected<int64_t> existing = reader_->findContent(doc.hash, doc.kind);
    if (existing && *existing != 0) {
        doc.status = store::kStatusOk;
        message.type = WriterMessage::Type::Link;
        message.doc = std::move(doc);
        return send(std::move(message));
    }
    extract(job, *extractor, std::move(doc));
}

void ExtractWorker::extract(const ExtractJob& job, Extractor& extractor, store::DocumentWrite doc) {
    const uint64_t token = ++ctx_.nextToken;
    std::vector<Segment> batch;
    size_t batchBytes = 0;
    bool sentChunk = false;
    auto flush = [&](WriterMessage::Type type) {
        WriterMessage message;
        message.type = type;
        message.token = token;
        message.doc = doc;  // chunks need the hash and kind to open the pending content
        message.segments = std::move(batch);
        message.tokens.reserve(message.segments.size());
        for (const Segment& segment : message.segments) {
            message.tokens.push_back(store::pretokenize(tokenizer_, segment.text));
        }
        message.replacing = job.known;
        batch.clear();
        batchBytes = 0;
        send(std::move(message));
    };
    const SegmentSink sink = [&](Segment&& segment) {
        if (ctx_.stop.load(std::memory_order_relaxed)) return false;
        if (segment.kind == SegmentKind::Page) ctx_.counters.pages++;
        batchBytes += segment.text.size() + segment.label.size();
        batch.push_back(std::move(segment));
        if (batchBytes >= ctx_.options.chunkBytes) {
            flush(WriterMessage::Type::Chunk);
            sentChunk = true;
        }
        return true;
    };
    ExtractRequest request;
    request.path = job.path;
    request.password = ctx_.options.password;
    request.cancel = &ctx_.stop;
    ExtractResult result;
    try {
        result = extractor.extract(request, sink);
    } catch (const std::bad_alloc&) {
        batch.clear();
        batch.shrink_to_fit();
        result = {};
        result.status = ExtractStatus::MemoryLimit;
        result.message = doc.path + ": out of memory while extracting (file is " +
                         std::to_string(job.size >> 20) + " MiB)";
    } catch (const std::exception& e) {
        result = {};
        result.status = ExtractStatus::Error;
        result.message = doc.path + ": extractor " + extractor.name() + " failed: " + e.what();
    }
    if (ctx_.stop.load()) {  // cancelled part-way: nothing of this document is kept
        batch.clear();
        if (sentChunk) flush(WriterMessage::Type::Abort);
        return;
    }
    doc.status = extractStatusName(result.status);
    doc.error = result.message;
    doc.replacedBytes = result.replacedBytes;
    doc.pageCount = result.meta.pageCount;
    doc.metaJson = metaToJson(result.meta);
    flush(WriterMessage::Type::Final);
}

}  // namespace lectern::ingest
