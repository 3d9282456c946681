// Training checkpoints (RELIABILITY CRASH-3, NUM-4). OUT/ckpt-<step>/ holds a model folder
// the engine loads (config.json, model.safetensors) plus optimizer.safetensors (AdamW
// moments m.<name>, v.<name>; the step in __metadata__) and trainer_state.json (step, data
// position, options). Each is written into ckpt-<step>.tmp/ with fsync, the folder renamed
// into place, then OUT/latest (written atomically) names it: a kill at any moment leaves
// `latest` naming a complete checkpoint. Older checkpoints beyond `keep` are removed.
#pragma once

#include <functional>
#include <string>

#include "lectern/status.h"
#include "training/model_io.h"
#include "training/optim/adamw.h"

namespace lectern::train {

// Refuses (error, nothing written) when any weight or moment is non-finite.
// `extra`, if given, writes more files into the checkpoint's temporary folder before it is
// renamed into place (a LoRA run's adapters), so they are part of the same atomic step.
Status checkpointWrite(const std::string& outDir, int64_t step, TrainModel& m, AdamWState& opt,
                       const std::string& trainerStateJson, int keep = 2,
                       const std::function<Status(const std::string& tmpDir)>& extra = {});

struct Checkpoint {
    std::string dir;  // the ckpt-<step> folder read
    TrainModel model;
    AdamWState opt;
    std::string trainerStateJson;
};

// `dir` is either a checkpoint folder or an OUT folder whose `latest` names one.
Expected<Checkpoint> checkpointRead(const std::string& dir);

}  // namespace lectern::train
