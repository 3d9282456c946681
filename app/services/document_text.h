// The model's input for a document or a collection: its segments in reading order joined
// by separators (a form feed between pages, a newline between line ranges and records,
// a "=== file: PATH ===" header before each document of a collection), tokenized piece by
// piece, with maps from token index to byte offset and from byte offset to the piece
// (page, line range, document) it came from.
//
// Each piece (a separator + segment, or a file header) is tokenized on its own, so the
// tokens of a prefix never depend on what follows it: a grown document's tokens start
// with the old document's tokens, which is what lets a state continue instead of re-read.
// A hash chain over the pieces (prefixHash) tells whether a saved state's prefix is still
// the current text.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "text_codec.h"
#include "text_source.h"

namespace lectern::services {

inline constexpr const char* kPageSeparator = "\f";
inline constexpr const char* kSegmentSeparator = "\n";
// Before each document of a collection stream: "=== file: " + path + " ===\n".
std::string fileHeader(const std::string& path);

struct TextPiece {
    int64_t documentId = 0;
    int segment = -1;  // index into the document's segments; -1 for a file header
    ingest::SegmentKind kind = ingest::SegmentKind::Lines;
    int64_t page = 0;  // the segment's page (Page segments), else 0
    int64_t lineStart = 0, lineEnd = 0;
    int64_t byteStart = 0, byteEnd = 0;    // in DocumentText::text
    int64_t tokenStart = 0, tokenEnd = 0;  // in DocumentText::tokens
    uint64_t chain = 0;                    // hash of every piece up to and including this
    bool boundary = false;  // a page or file starts here: a snapshot may be taken before it
};

struct DocumentText {
    StateKey key;
    std::string fingerprint;
    std::string text;
    std::vector<int32_t> tokens;
    std::vector<int64_t> tokenOffsets;  // byte offset where each token starts
    std::vector<TextPiece> pieces;

    // Hash chain over pieces [0, count): "0" for none. As stored in StateRow::prefixHash.
    std::string prefixHash(size_t count) const;
    // Pieces begun by the first `tokens` tokens.
    size_t piecesBegun(int64_t tokens) const;
    const TextPiece* pieceAtByte(int64_t byte) const;    // null when out of range
    const TextPiece* pieceAtToken(int64_t token) const;  // null when out of range
    int64_t tokenAtByte(int64_t byte) const;             // the token covering `byte` (clamped)
    // Tokens that end page `page` (documents with pages): every piece with page <= `page`.
    // Error when the document has no page `page`.
    Expected<int64_t> tokensThroughPage(int64_t page) const;
};

DocumentText buildDocumentText(const TextCodec& codec, const StateKey& key,
                               const SourceText& source);

}  // namespace lectern::services
