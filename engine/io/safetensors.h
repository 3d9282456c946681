// Reading and writing .safetensors files (and sharded model.safetensors.index.json sets).
// Every number in a header is checked in the manner of ggml's gguf.cpp before any tensor
// is allocated: a bad file gives an error naming the file, the tensor and the problem,
// and a distinct SafetensorsError code, never a crash or an oversized allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "io/raw_tensor.h"
#include "lectern/status.h"

namespace lectern::io {

// One code per kind of damage (RELIABILITY.md MOD-1 asks for distinct codes).
enum class SafetensorsError {
    None,
    Io,              // cannot open, read or write the file
    TooShort,        // fewer than 8 bytes
    HeaderEmpty,     // header length 0
    HeaderTooLarge,  // header length above kSafetensorsMaxHeader
    HeaderPastEnd,   // header length runs past the end of the file
    HeaderStart,     // header does not start with '{'
    InvalidJson,     // header is not valid JSON (or not UTF-8)
    NotObject,       // header, a tensor entry or __metadata__ has the wrong JSON type
    DuplicateKey,    // a key appears twice in one JSON object
    BadMetadata,     // __metadata__ is not an object of strings
    BadEntry,        // a tensor entry lacks dtype/shape/data_offsets or has other keys
    UnknownDtype,    // dtype is not one of F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL
    BadShape,        // a dimension is negative or not an integer, or rank > 16
    ShapeOverflow,   // the product of the shape times the element size overflows 2^64
    BadOffsets,      // data_offsets not two non-negative integers, or end < begin
    OffsetPastEnd,   // end lies past the end of the byte buffer
    SizeMismatch,    // end - begin != numel * dtype size
    Overlap,         // two tensors share bytes
    Hole,            // bytes of the buffer that no tensor covers
    TrailingBytes,   // bytes after the last tensor's end
    BadIndex,        // model.safetensors.index.json is malformed
    MissingTensor,   // the index names a tensor its shard lacks
    ExtraTensor,     // a shard holds a tensor the index does not name, or names it twice
};

constexpr uint64_t kSafetensorsMaxHeader = 100u << 20;  // as the reference implementation

// A file's tensors and its header's "__metadata__" (string to string). Tied weights are
// recorded there as aliases, e.g. "lm_head.weight" -> "backbone.embedding.weight".
struct SafetensorsFile {
    TensorMap tensors;
    std::map<std::string, std::string> metadata;
};

// Parses a whole file held in memory; `name` is the file name used in messages.
// `code`, when given, receives the kind of error (None on success).
Expected<SafetensorsFile> safetensorsParse(const uint8_t* data, size_t size,
                                           const std::string& name,
                                           SafetensorsError* code = nullptr);

// Reads a file: the header first, all of it checked against the file size, then each
// tensor's bytes straight into its RawTensor (the file is never held twice in memory).
Expected<SafetensorsFile> safetensorsRead(const std::string& path,
                                          SafetensorsError* code = nullptr);

// Reads a sharded set through its model.safetensors.index.json ("weight_map": tensor ->
// shard file in the same folder). Every tensor must lie in the shard the index names, and
// no shard may hold a tensor the index leaves out. The index's "metadata" is ignored; the
// shards' __metadata__ maps are merged.
Expected<SafetensorsFile> safetensorsReadIndexed(const std::string& indexPath,
                                                 SafetensorsError* code = nullptr);

// Reads a model folder's weights: model.safetensors if present, else
// model.safetensors.index.json and its shards. `dirOrFile` may also name either file.
Expected<SafetensorsFile> safetensorsReadModel(const std::string& dirOrFile,
                                               SafetensorsError* code = nullptr);

// The bytes of a .safetensors file for these tensors (sorted by name, offsets in that
// order, header padded with spaces to a multiple of 8). Errors if a tensor's byte count
// does not match its shape and dtype.
Expected<std::string> safetensorsSerialize(const TensorMap& tensors,
                                           const std::map<std::string, std::string>& metadata);

// Writes atomically: a temporary file beside `path`, fsync, rename over `path`, fsync of
// the folder. On any error `path` is untouched and the temporary file removed.
Status safetensorsWrite(const std::string& path, const TensorMap& tensors,
                        const std::map<std::string, std::string>& metadata = {});

const char* safetensorsErrorName(SafetensorsError code);

}  // namespace lectern::io
