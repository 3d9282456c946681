// Reads the int32 `input_ids` [B, L] tensor of a safetensors file (see input_ids.h).
#include "io/input_ids.h"

#include <cstring>

#include "io/safetensors.h"

namespace lectern::io {

Expected<std::vector<int32_t>> readInputIds(const std::string& path, int64_t& B, int64_t& L) {
    auto file = safetensorsRead(path);
    if (!file) return file.status();
    auto it = file->tensors.find("input_ids");
    if (it == file->tensors.end()) return Status::error(path + ": no tensor 'input_ids'");
    const RawTensor& t = it->second;
    if (t.dtype != DType::I32 || t.shape.size() != 2)
        return Status::error(path + ": 'input_ids' must be int32 [B, L]");
    B = t.shape[0];
    L = t.shape[1];
    std::vector<int32_t> ids(size_t(B * L));
    std::memcpy(ids.data(), t.bytes.data(), ids.size() * sizeof(int32_t));
    return ids;
}

}  // namespace lectern::io
