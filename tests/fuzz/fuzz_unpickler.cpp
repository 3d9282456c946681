// libFuzzer target for the restricted unpickler of torch.save's data.pkl: any bytes must
// give a state dict or a clean error, and a state dict's tensors must fit their storages.
#include <cstdint>
#include <cstdlib>

#include "io/restricted_unpickler.h"

using namespace lectern::io;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto dict = unpickleStateDict(data, size, "fuzz.pkl");
    if (!dict) return 0;
    for (const auto& [name, t] : dict->tensors) {
        auto it = dict->storages.find(t.storageKey);
        if (it == dict->storages.end()) std::abort();
        uint64_t numel = 1;
        for (int64_t d : t.shape) numel *= uint64_t(d);
        if (t.storageOffset + numel > it->second.numel) std::abort();
    }
    return 0;
}
