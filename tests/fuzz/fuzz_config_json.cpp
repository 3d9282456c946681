// libFuzzer target for config.json (FUZZ-1 fuzz_config_json): any bytes give a config or
// a clean error; an accepted config has consistent, bounded sizes (MOD-6: nothing huge is
// ever allocated from it).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "model/config.h"
#include "model/weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    auto cfg = lectern::model::configParse(text, "fuzz/config.json");
    if (!cfg) {
        if (cfg.error().empty()) std::abort();
        return 0;
    }
    const auto d = cfg->dims();
    if (d.H <= 0 || d.P <= 0 || d.N <= 0 || d.A <= 0 || d.R <= 0 || d.G <= 0) std::abort();
    if (int64_t(d.H) * d.P != cfg->dInner() || d.H % d.G != 0 || 2 * d.A > d.N) std::abort();
    if (cfg->vocabPadded() < cfg->vocabSize || cfg->parameterCount() <= 0) std::abort();
    if (cfg->parameterCount() > (int64_t(1) << 36)) std::abort();
    if (cfg->nLayer <= 64) {  // the names list is linear in n_layer; keep each run quick
        const auto names = lectern::model::weightsExpected(*cfg);
        if (names.empty()) std::abort();
    }
    return 0;
}
