// A restricted unpickler for the data.pkl of a torch.save'd state dict. It is a small
// stack machine for exactly the pickle opcodes a state dict uses (protocols 2-4) and knows
// only the globals a state dict names (collections.OrderedDict, torch._utils._rebuild_*,
// torch.<Type>Storage). Any other global, opcode or shape of data is refused with an
// error naming it and the byte offset; nothing is ever called or executed.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/raw_tensor.h"
#include "lectern/status.h"

namespace lectern::io {

// A storage named by a persistent id ('storage', torch.<Type>Storage, key, location, numel).
struct PickledStorage {
    DType dtype = DType::F32;
    uint64_t numel = 0;
};

// A tensor as _rebuild_tensor_v2 describes it: a view into a storage. Only contiguous
// (row-major) views are accepted, checked here; offset + numel fits in the storage.
struct PickledTensor {
    std::string storageKey;
    DType dtype = DType::F32;
    uint64_t storageOffset = 0;  // in elements
    std::vector<int64_t> shape;
};

struct PickledStateDict {
    std::vector<std::pair<std::string, PickledTensor>> tensors;  // in pickle order
    std::map<std::string, PickledStorage> storages;              // by key (the data/<key> entry)
};

// `name` is used in messages ("<name>: byte <offset>: <problem>").
Expected<PickledStateDict> unpickleStateDict(const uint8_t* data, size_t size,
                                             const std::string& name);

}  // namespace lectern::io
