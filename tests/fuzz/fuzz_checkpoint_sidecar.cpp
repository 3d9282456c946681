// libFuzzer target for a training checkpoint's sidecar (FUZZ-1 fuzz_checkpoint_sidecar):
// trainer_state.json, which a resume applies to its options and data position. Any bytes
// give a clean error or a state; an accepted state written back out and applied again
// gives the same options and position (nothing in it is lost or changes meaning).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "training/trainer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace lectern::train;
    const std::string text(reinterpret_cast<const char*>(data), size);
    TrainOptions o;
    TrainRun run;
    if (!applyTrainerState(text, o, run, /*keepSteps=*/false)) return 0;
    const std::string back = trainerStateJson(o, run);
    TrainOptions o2;
    TrainRun run2;
    if (!applyTrainerState(back, o2, run2, false)) std::abort();
    if (trainerStateJson(o2, run2) != back) std::abort();
    return 0;
}
