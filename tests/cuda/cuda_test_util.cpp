// loadHostModel: config.json + weights through the engine's own loaders.
#include "cuda_test_util.h"

#include "io/safetensors.h"

namespace lectern::test {

Expected<HostModel> loadHostModel(const std::string& dir) {
    auto cfg = model::configLoad(dir + "/config.json");
    if (!cfg) return cfg.status();
    auto file = io::safetensorsReadModel(dir);
    if (!file) return file.status();
    auto w = model::weightsFromTensors(*cfg, file->tensors, dir);
    if (!w) return w.status();
    return HostModel{*cfg, std::move(*w)};
}

}  // namespace lectern::test
