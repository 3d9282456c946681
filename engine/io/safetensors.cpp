// Reading .safetensors: 8-byte little-endian header length N, N bytes of JSON, then the
// byte buffer. The header is checked whole (types, dtypes, shapes, offsets, coverage of
// the buffer) before a single tensor byte is allocated, so a hostile header costs at most
// its own size, which is itself bounded by the file size and kSafetensorsMaxHeader.
#include "io/safetensors.h"

#include <algorithm>
#include <vector>

#include "io/byte_source.h"
#include "io/json_strict.h"
#include "io/safetensors_internal.h"

namespace lectern::io {

namespace {

using nlohmann::json;

struct Entry {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    uint64_t begin = 0;
    uint64_t end = 0;
};

struct Header {
    std::vector<Entry> entries;
    std::map<std::string, std::string> metadata;
};

bool parseDtype(const std::string& s, DType* out) {
    static const std::pair<const char*, DType> kTable[] = {
        {"F64", DType::F64}, {"F32", DType::F32},  {"F16", DType::F16}, {"BF16", DType::BF16},
        {"I64", DType::I64}, {"I32", DType::I32},  {"I16", DType::I16}, {"I8", DType::I8},
        {"U8", DType::U8},   {"BOOL", DType::Bool}};
    for (const auto& [name, dtype] : kTable) {
        if (s == name) {
            *out = dtype;
            return true;
        }
    }
    return false;
}

Status parseMetadata(const json& value, Header* header, const StError& err) {
    if (!value.is_object())
        return err(SafetensorsError::BadMetadata, "__metadata__ is not an object");
    for (const auto& [key, item] : value.items()) {
        if (!item.is_string()) {
            return err(SafetensorsError::BadMetadata,
                       "__metadata__ value for \"" + key + "\" is not a string");
        }
        header->metadata[key] = item.get<std::string>();
    }
    return Status::ok();
}

Status parseShape(const json& value, Entry* e, const StError& err) {
    if (!value.is_array() || value.size() > kMaxRank) {
        return err(SafetensorsError::BadShape, "tensor '" + e->name +
                                                   "': shape is not an array of at most " +
                                                   std::to_string(kMaxRank) + " dimensions");
    }
    uint64_t numel = 1;
    for (const auto& dim : value) {
        if (!dim.is_number_unsigned() || dim.get<uint64_t>() > uint64_t(INT64_MAX)) {
            return err(SafetensorsError::BadShape, "tensor '" + e->name + "': dimension " +
                                                       dim.dump() +
                                                       " is not a non-negative integer");
        }
        const uint64_t d = dim.get<uint64_t>();
        if (__builtin_mul_overflow(numel, d, &numel)) {
            return err(
                SafetensorsError::ShapeOverflow,
                "tensor '" + e->name + "': shape " + value.dump() + " overflows 2^64 elements");
        }
        e->shape.push_back(int64_t(d));
    }
    uint64_t nbytes = 0;
    if (__builtin_mul_overflow(numel, uint64_t(dtypeSize(e->dtype)), &nbytes)) {
        return err(SafetensorsError::ShapeOverflow,
                   "tensor '" + e->name + "': shape " + value.dump() + " overflows 2^64 bytes");
    }
    const uint64_t range = e->end - e->begin;
    if (nbytes != range) {
        return err(SafetensorsError::SizeMismatch,
                   "tensor '" + e->name + "': shape " + value.dump() + " of " +
                       dtypeName(e->dtype) + " needs " + std::to_string(nbytes) +
                       " bytes but data_offsets span " + std::to_string(range));
    }
    return Status::ok();
}

Status parseOffsets(const json& value, Entry* e, uint64_t bufferSize, const StError& err) {
    if (!value.is_array() || value.size() != 2 || !value[0].is_number_unsigned() ||
        !value[1].is_number_unsigned()) {
        return err(SafetensorsError::BadOffsets,
                   "tensor '" + e->name + "': data_offsets is not two non-negative integers");
    }
    e->begin = value[0].get<uint64_t>();
    e->end = value[1].get<uint64_t>();
    if (e->end < e->begin) {
        return err(SafetensorsError::BadOffsets, "tensor '" + e->name + "': data_offsets end " +
                                                     std::to_string(e->end) + " < begin " +
                                                     std::to_string(e->begin));
    }
    if (e->end > bufferSize) {
        return err(SafetensorsError::OffsetPastEnd,
                   "tensor '" + e->name + "': data_offsets end " + std::to_string(e->end) +
                       " lies past the end of the " + std::to_string(bufferSize) + "-byte buffer");
    }
    return Status::ok();
}

Status parseEntry(const std::string& name, const json& value, uint64_t bufferSize, Header* header,
                  const StError& err) {
    if (!value.is_object())
        return err(SafetensorsError::NotObject, "tensor '" + name + "' is not an object");
    if (name.empty()) return err(SafetensorsError::BadEntry, "a tensor has an empty name");
    for (const auto& [key, item] : value.items()) {
        if (key != "dtype" && key != "shape" && key != "data_offsets") {
            return err(SafetensorsError::BadEntry,
                       "tensor '" + name + "' has unknown key \"" + key + "\"");
        }
    }
    if (!value.contains("dtype") || !value.contains("shape") || !value.contains("data_offsets")) {
        return err(SafetensorsError::BadEntry,
                   "tensor '" + name + "' lacks one of dtype, shape, data_offsets");
    }
    Entry e;
    e.name = name;
    const json& dtype = value["dtype"];
    if (!dtype.is_string() || !parseDtype(dtype.get<std::string>(), &e.dtype)) {
        return err(SafetensorsError::UnknownDtype,
                   "tensor '" + name + "' has unknown or unsupported dtype " + dtype.dump());
    }
    if (Status s = parseOffsets(value["data_offsets"], &e, bufferSize, err); !s) return s;
    if (Status s = parseShape(value["shape"], &e, err); !s) return s;
    header->entries.push_back(std::move(e));
    return Status::ok();
}

// The buffer must be covered exactly: no overlap, no hole, nothing after the last tensor.
Status checkCoverage(std::vector<Entry>& entries, uint64_t bufferSize, const StError& err) {
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t covered = 0;
    const Entry* previous = nullptr;
    for (const Entry& e : entries) {
        if (e.begin < covered) {
            return err(SafetensorsError::Overlap,
                       "tensor '" + e.name + "' [" + std::to_string(e.begin) + ", " +
                           std::to_string(e.end) + ") overlaps tensor '" + previous->name + "'");
        }
        if (e.begin > covered) {
            return err(SafetensorsError::Hole, "bytes [" + std::to_string(covered) + ", " +
                                                   std::to_string(e.begin) + ") before tensor '" +
                                                   e.name + "' belong to no tensor");
        }
        covered = e.end;
        if (e.end > e.begin) previous = &e;
    }
    if (covered != bufferSize) {
        return err(SafetensorsError::TrailingBytes,
                   std::to_string(bufferSize - covered) +
                       " bytes after the last tensor belong to no tensor");
    }
    return Status::ok();
}

Expected<Header> parseHeader(const std::string& text, uint64_t bufferSize, const StError& err) {
    if (text.empty() || text[0] != '{') {
        return err(SafetensorsError::HeaderStart, "header does not start with '{'");
    }
    // A valid header nests 3 deep (root, entry, shape) with no array over kMaxRank long;
    // refusing anything else while parsing keeps a hostile header's tree small.
    JsonParseResult parsed =
        jsonParseStrict(text.data(), text.data() + text.size(), JsonLimits{3, kMaxRank});
    switch (parsed.error) {
        case JsonError::None:
            break;
        case JsonError::DuplicateKey:
            return err(SafetensorsError::DuplicateKey, "header: " + parsed.message);
        case JsonError::TooDeep:
            return err(SafetensorsError::NotObject, "header: " + parsed.message);
        case JsonError::TooLong:
            return err(SafetensorsError::BadShape, "header: " + parsed.message);
        case JsonError::Invalid:
            return err(SafetensorsError::InvalidJson, "header: " + parsed.message);
    }
    if (!parsed.value.is_object())
        return err(SafetensorsError::NotObject, "header is not a JSON object");
    Header header;
    for (const auto& [key, value] : parsed.value.items()) {
        Status s = key == "__metadata__" ? parseMetadata(value, &header, err)
                                         : parseEntry(key, value, bufferSize, &header, err);
        if (!s) return s;
    }
    if (Status s = checkCoverage(header.entries, bufferSize, err); !s) return s;
    return header;
}

}  // namespace

Expected<SafetensorsFile> safetensorsReadSource(const ByteSource& source, SafetensorsError* code) {
    const StError err{source.name(), code};
    if (code) *code = SafetensorsError::None;
    const uint64_t size = source.size();
    uint8_t prefix[8];
    if (size < 8 || !source.read(0, prefix, 8)) {
        return err(
            SafetensorsError::TooShort,
            "file of " + std::to_string(size) + " bytes is too short for the 8-byte header length");
    }
    uint64_t headerLength = 0;
    for (int i = 7; i >= 0; --i) headerLength = (headerLength << 8) | prefix[i];
    if (headerLength == 0) return err(SafetensorsError::HeaderEmpty, "header length is 0");
    if (headerLength > kSafetensorsMaxHeader) {
        return err(SafetensorsError::HeaderTooLarge,
                   "header length " + std::to_string(headerLength) + " is above the limit of " +
                       std::to_string(kSafetensorsMaxHeader));
    }
    if (headerLength > size - 8) {
        return err(SafetensorsError::HeaderPastEnd,
                   "header length " + std::to_string(headerLength) + " runs past the end of the " +
                       std::to_string(size) + "-byte file");
    }
    std::string text(size_t(headerLength), '\0');
    if (!source.read(8, text.data(), text.size()))
        return err(SafetensorsError::Io, "cannot read the header");
    const uint64_t dataStart = 8 + headerLength;
    Expected<Header> header = parseHeader(text, size - dataStart, err);
    if (!header) return header.status();
    SafetensorsFile file;
    file.metadata = std::move(header->metadata);
    for (Entry& e : header->entries) {
        RawTensor t;
        t.dtype = e.dtype;
        t.shape = std::move(e.shape);
        t.bytes.resize(size_t(e.end - e.begin));  // bounded by the file size, checked above
        if (!source.read(dataStart + e.begin, t.bytes.data(), t.bytes.size())) {
            return err(SafetensorsError::Io, "tensor '" + e.name + "': cannot read its bytes");
        }
        file.tensors.emplace(e.name, std::move(t));
    }
    return file;
}

Expected<SafetensorsFile> safetensorsParse(const uint8_t* data, size_t size,
                                           const std::string& name, SafetensorsError* code) {
    return safetensorsReadSource(MemorySource(data, size, name), code);
}

Expected<SafetensorsFile> safetensorsRead(const std::string& path, SafetensorsError* code) {
    auto source = FileSource::open(path);
    if (!source) {
        if (code) *code = SafetensorsError::Io;
        return source.status();
    }
    return safetensorsReadSource(**source, code);
}

}  // namespace lectern::io
