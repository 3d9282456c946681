// Loading the official pytorch_model.bin (torch.save's zip format: <folder>/data.pkl,
// <folder>/data/<key> storages, <folder>/byteorder, <folder>/version) into a TensorMap,
// through the restricted unpickler: no code is executed, only contiguous tensors of
// little-endian storages are accepted, and shared storages (a tied embedding and LM head)
// give each tensor its own copy of the bytes.
#pragma once

#include <cstdint>
#include <string>

#include "io/byte_source.h"
#include "io/raw_tensor.h"
#include "lectern/status.h"

namespace lectern::io {

Expected<TensorMap> torchReadStateDict(const std::string& path);
// The same from bytes in memory; `name` is used in messages (tests, fuzzing).
Expected<TensorMap> torchParseStateDict(const uint8_t* data, size_t size, const std::string& name);
Expected<TensorMap> torchReadSource(const ByteSource& source);

}  // namespace lectern::io
