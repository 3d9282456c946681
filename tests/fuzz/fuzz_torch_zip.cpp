// libFuzzer target for the torch.save zip container (central directory, local headers,
// ZIP64, CRC) and the storage checks behind it: any bytes give tensors or a clean error.
#include <cstdint>
#include <cstdlib>

#include "io/torch_zip_reader.h"

using namespace lectern::io;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto tensors = torchParseStateDict(data, size, "fuzz.bin");
    if (!tensors) return 0;
    for (const auto& [name, t] : *tensors) {
        if (uint64_t(t.numel()) * uint64_t(dtypeSize(t.dtype)) != t.bytes.size()) std::abort();
    }
    return 0;
}
