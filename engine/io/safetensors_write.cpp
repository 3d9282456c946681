// Writing .safetensors files (atomically), reading sharded sets through their index file,
// and the names of the error codes.
#include <filesystem>
#include <set>

#include "io/json_strict.h"
#include "io/safetensors.h"
#include "io/safetensors_internal.h"

namespace lectern::io {

Expected<std::string> safetensorsSerialize(const TensorMap& tensors,
                                           const std::map<std::string, std::string>& metadata) {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    uint64_t offset = 0;
    for (const auto& [name, t] : tensors) {
        if (name.empty() || name == "__metadata__") {
            return Status::error("cannot write a tensor named \"" + name + "\"");
        }
        uint64_t numel = 1;
        for (int64_t d : t.shape) {
            if (d < 0 || __builtin_mul_overflow(numel, uint64_t(d), &numel)) {
                return Status::error("tensor '" + name + "' has a bad shape");
            }
        }
        if (t.shape.size() > kMaxRank || numel * uint64_t(dtypeSize(t.dtype)) != t.bytes.size()) {
            return Status::error("tensor '" + name + "' holds " + std::to_string(t.bytes.size()) +
                                 " bytes, which does not match its shape and dtype");
        }
        header[name] = {{"dtype", dtypeName(t.dtype)},
                        {"shape", t.shape},
                        {"data_offsets", {offset, offset + t.bytes.size()}}};
        offset += t.bytes.size();
    }
    std::string text;
    try {
        text = header.dump();
    } catch (const nlohmann::json::exception& e) {  // names that are not valid UTF-8
        return Status::error(std::string("cannot encode the header: ") + e.what());
    }
    text.append((8 - text.size() % 8) % 8, ' ');  // keeps the buffer 8-byte aligned
    std::string out;
    out.reserve(8 + text.size() + offset);
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i, n >>= 8) out.push_back(char(n & 0xff));
    out += text;
    for (const auto& [name, t] : tensors) out.append(t.bytes.begin(), t.bytes.end());
    return out;
}

Status safetensorsWrite(const std::string& path, const TensorMap& tensors,
                        const std::map<std::string, std::string>& metadata) {
    Expected<std::string> bytes = safetensorsSerialize(tensors, metadata);
    if (!bytes) return bytes.status().withContext(path);
    return writeFileAtomic(path, *bytes);
}

namespace {

// Reads the index's weight_map: tensor name -> shard file name (a plain name, no folders).
Expected<std::map<std::string, std::string>> readWeightMap(const std::string& indexPath,
                                                           const StError& err) {
    auto source = FileSource::open(indexPath);
    if (!source) return err(SafetensorsError::Io, source.status().message());
    const uint64_t size = (*source)->size();
    if (size > kSafetensorsMaxHeader)
        return err(SafetensorsError::BadIndex, "index file is too large");
    std::string text(size_t(size), '\0');
    if (!(*source)->read(0, text.data(), text.size()))
        return err(SafetensorsError::Io, "cannot read");
    JsonParseResult parsed = jsonParseStrict(text.data(), text.data() + text.size());
    if (parsed.error != JsonError::None) return err(SafetensorsError::BadIndex, parsed.message);
    const auto& root = parsed.value;
    if (!root.is_object() || !root.contains("weight_map") || !root["weight_map"].is_object()) {
        return err(SafetensorsError::BadIndex, "no \"weight_map\" object");
    }
    std::map<std::string, std::string> map;
    for (const auto& [name, shard] : root["weight_map"].items()) {
        if (!shard.is_string())
            return err(SafetensorsError::BadIndex, "shard of '" + name + "' is not a string");
        const std::string file = shard.get<std::string>();
        if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos ||
            file.find('\\') != std::string::npos) {
            return err(SafetensorsError::BadIndex,
                       "shard \"" + file + "\" of '" + name + "' is not a plain file name");
        }
        map[name] = file;
    }
    return map;
}

}  // namespace

Expected<SafetensorsFile> safetensorsReadIndexed(const std::string& indexPath,
                                                 SafetensorsError* code) {
    const StError err{indexPath, code};
    if (code) *code = SafetensorsError::None;
    auto weightMap = readWeightMap(indexPath, err);
    if (!weightMap) return weightMap.status();
    std::set<std::string> shards;
    for (const auto& [name, shard] : *weightMap) shards.insert(shard);
    const std::filesystem::path folder = std::filesystem::path(indexPath).parent_path();
    SafetensorsFile result;
    for (const std::string& shard : shards) {
        Expected<SafetensorsFile> part = safetensorsRead((folder / shard).string(), code);
        if (!part) return part.status().withContext(indexPath);
        for (auto& [name, tensor] : part->tensors) {
            auto it = weightMap->find(name);
            if (it == weightMap->end() || it->second != shard) {
                return err(SafetensorsError::ExtraTensor,
                           "shard " + shard + " holds tensor '" + name +
                               "' that the index does not place there");
            }
            result.tensors.emplace(name, std::move(tensor));
        }
        result.metadata.insert(part->metadata.begin(), part->metadata.end());
    }
    for (const auto& [name, shard] : *weightMap) {
        if (!result.tensors.count(name)) {
            return err(SafetensorsError::MissingTensor,
                       "tensor '" + name + "' is missing from shard " + shard);
        }
    }
    return result;
}

Expected<SafetensorsFile> safetensorsReadModel(const std::string& dirOrFile,
                                               SafetensorsError* code) {
    namespace fs = std::filesystem;
    const fs::path p(dirOrFile);
    std::error_code ec;
    if (!fs::is_directory(p, ec)) {
        const std::string name = p.filename().string();
        const bool isIndex =
            name.size() >= 11 && name.compare(name.size() - 11, 11, ".index.json") == 0;
        return isIndex ? safetensorsReadIndexed(dirOrFile, code) : safetensorsRead(dirOrFile, code);
    }
    if (fs::exists(p / "model.safetensors", ec))
        return safetensorsRead((p / "model.safetensors").string(), code);
    if (fs::exists(p / "model.safetensors.index.json", ec)) {
        return safetensorsReadIndexed((p / "model.safetensors.index.json").string(), code);
    }
    if (code) *code = SafetensorsError::Io;
    return Status::error(dirOrFile +
                         ": holds neither model.safetensors nor model.safetensors.index.json");
}

const char* safetensorsErrorName(SafetensorsError code) {
    switch (code) {
        case SafetensorsError::None:
            return "none";
        case SafetensorsError::Io:
            return "io";
        case SafetensorsError::TooShort:
            return "too-short";
        case SafetensorsError::HeaderEmpty:
            return "header-empty";
        case SafetensorsError::HeaderTooLarge:
            return "header-too-large";
        case SafetensorsError::HeaderPastEnd:
            return "header-past-end";
        case SafetensorsError::HeaderStart:
            return "header-start";
        case SafetensorsError::InvalidJson:
            return "invalid-json";
        case SafetensorsError::NotObject:
            return "not-object";
        case SafetensorsError::DuplicateKey:
            return "duplicate-key";
        case SafetensorsError::BadMetadata:
            return "bad-metadata";
        case SafetensorsError::BadEntry:
            return "bad-entry";
        case SafetensorsError::UnknownDtype:
            return "unknown-dtype";
        case SafetensorsError::BadShape:
            return "bad-shape";
        case SafetensorsError::ShapeOverflow:
            return "shape-overflow";
        case SafetensorsError::BadOffsets:
            return "bad-offsets";
        case SafetensorsError::OffsetPastEnd:
            return "offset-past-end";
        case SafetensorsError::SizeMismatch:
            return "size-mismatch";
        case SafetensorsError::Overlap:
            return "overlap";
        case SafetensorsError::Hole:
            return "hole";
        case SafetensorsError::TrailingBytes:
            return "trailing-bytes";
        case SafetensorsError::BadIndex:
            return "bad-index";
        case SafetensorsError::MissingTensor:
            return "missing-tensor";
        case SafetensorsError::ExtraTensor:
            return "extra-tensor";
    }
    return "?";
}

}  // namespace lectern::io
