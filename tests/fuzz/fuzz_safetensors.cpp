// libFuzzer target for the safetensors reader: any bytes must give a value or a clean
// error. A file that parses must also survive a write and re-read unchanged.
#include <cstdint>
#include <cstdlib>

#include "io/safetensors.h"

using namespace lectern::io;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    SafetensorsError code = SafetensorsError::None;
    auto file = safetensorsParse(data, size, "fuzz.safetensors", &code);
    if ((code == SafetensorsError::None) != file.hasValue()) std::abort();
    if (!file) return 0;
    auto bytes = safetensorsSerialize(file->tensors, file->metadata);
    if (!bytes) return 0;  // e.g. a name the writer refuses; the reader accepted it
    auto again = safetensorsParse(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size(),
                                  "fuzz-rewritten.safetensors");
    if (!again || again->metadata != file->metadata ||
        again->tensors.size() != file->tensors.size()) {
        std::abort();
    }
    for (const auto& [name, t] : file->tensors) {
        const RawTensor& u = again->tensors.at(name);
        if (u.dtype != t.dtype || u.shape != t.shape || u.bytes != t.bytes) std::abort();
    }
    return 0;
}
