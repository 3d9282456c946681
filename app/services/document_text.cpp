// buildDocumentText: pieces (separator + segment, file headers), per-piece tokenization,
// token byte offsets, the prefix hash chain, and the look-ups over them.
#include "document_text.h"

#include <algorithm>

namespace lectern::services {
namespace {

uint64_t chainStep(uint64_t h, std::string_view bytes) {
    h = (h ^ 0x9e3779b97f4a7c15ull) * 1099511628211ull;
    for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
    return h;
}

std::string hex16(uint64_t h) {
    static const char* d = "0123456789abcdef";
    std::string out(16, '0');
    for (int i = 0; i < 16; ++i) out[size_t(i)] = d[(h >> (60 - 4 * i)) & 15];
    return out;
}

struct Builder {
    const TextCodec& codec;
    DocumentText& out;
    uint64_t chain = 1469598103934665603ull;

    void add(TextPiece piece, const std::string& bytes) {
        piece.byteStart = int64_t(out.text.size());
        out.text += bytes;
        piece.byteEnd = int64_t(out.text.size());
        piece.tokenStart = int64_t(out.tokens.size());
        const std::vector<int32_t> ids = codec.encode(bytes);
        int64_t at = piece.byteStart;
        for (int32_t id : ids) {
            out.tokens.push_back(id);
            out.tokenOffsets.push_back(std::min(at, piece.byteEnd));
            at += codec.tokenBytes(id);
        }
        piece.tokenEnd = int64_t(out.tokens.size());
        chain = chainStep(chain, bytes);
        piece.chain = chain;
        out.pieces.push_back(piece);
    }
};

}  // namespace

std::string fileHeader(const std::string& path) {
    return "=== file: " + path + " ===\n";
}

DocumentText buildDocumentText(const TextCodec& codec, const StateKey& key,
                               const SourceText& source) {
    DocumentText out;
    out.key = key;
    out.fingerprint = source.fingerprint;
    Builder b{codec, out};
    const bool collection = key.owner == store::StateOwner::Collection;
    for (size_t d = 0; d < source.documents.size(); ++d) {
        const SourceDocument& doc = source.documents[d];
        if (collection) {
            TextPiece header;
            header.documentId = doc.id;
            header.boundary = true;
            b.add(header, (d > 0 ? std::string("\n\n") : std::string()) + fileHeader(doc.path));
        }
        for (size_t i = 0; i < doc.segments.size(); ++i) {
            const ingest::Segment& seg = doc.segments[i];
            TextPiece piece;
            piece.documentId = doc.id;
            piece.segment = int(i);
            piece.kind = seg.kind;
            piece.page = seg.kind == ingest::SegmentKind::Page ? seg.ordinal : 0;
            piece.lineStart = seg.lineStart;
            piece.lineEnd = seg.lineEnd;
            piece.boundary = true;  // every segment starts a page, a line range or a record
            std::string bytes;
            if (i > 0)
                bytes = seg.kind == ingest::SegmentKind::Page ? kPageSeparator : kSegmentSeparator;
            bytes += seg.text;
            b.add(piece, bytes);
        }
    }
    return out;
}

std::string DocumentText::prefixHash(size_t count) const {
    if (count == 0) return "0";
    return hex16(pieces[std::min(count, pieces.size()) - 1].chain);
}

size_t DocumentText::piecesBegun(int64_t n) const {
    // Pieces whose first token is before n (empty pieces at the very start count too).
    auto it = std::partition_point(pieces.begin(), pieces.end(),
                                   [n](const TextPiece& p) { return p.tokenStart < n; });
    return size_t(it - pieces.begin());
}

const TextPiece* DocumentText::pieceAtByte(int64_t byte) const {
    auto it = std::partition_point(pieces.begin(), pieces.end(),
                                   [byte](const TextPiece& p) { return p.byteEnd <= byte; });
    return it != pieces.end() && it->byteStart <= byte ? &*it : nullptr;
}

const TextPiece* DocumentText::pieceAtToken(int64_t token) const {
    auto it = std::partition_point(pieces.begin(), pieces.end(),
                                   [token](const TextPiece& p) { return p.tokenEnd <= token; });
    return it != pieces.end() && it->tokenStart <= token ? &*it : nullptr;
}

int64_t DocumentText::tokenAtByte(int64_t byte) const {
    if (tokenOffsets.empty()) return 0;
    auto it = std::upper_bound(tokenOffsets.begin(), tokenOffsets.end(), byte);
    return it == tokenOffsets.begin() ? 0 : int64_t(it - tokenOffsets.begin()) - 1;
}

Expected<int64_t> DocumentText::tokensThroughPage(int64_t page) const {
    if (key.owner == store::StateOwner::Collection)
        return Status::error("\"as of page\" needs one document, not a collection");
    int64_t lastPage = 0, end = -1;
    for (const TextPiece& p : pieces) {
        lastPage = std::max(lastPage, p.page);
        if (p.page > 0 && p.page <= page) end = p.tokenEnd;
    }
    if (lastPage == 0) return Status::error(key.describe() + " has no pages");
    if (page < 1 || page > lastPage)
        return Status::error(key.describe() + " has pages 1 to " + std::to_string(lastPage) +
                             ", not page " + std::to_string(page));
    return end;
}

}  // namespace lectern::services
