// Training checkpoints (RELIABILITY CRASH-3, NUM-4). OUT/ckpt-<step>/ holds a model folder
// the engine loads (config.json, model.safetensors) plus optimizer.safetensors (AdamW
// moments m.<name>, v.<name>; the step in __metadata__) and trainer_state.json (step, data
// position, options). Each is written into ckpt-<step>.tmp/ with fsync, the folder renamed
// into place, then OUT/latest (written atomically) names it: a kill at any moment leaves
// `latest` naming a complete checkpoint. Older checkpoints beyond `keep` are removed.
//
// A LoRA run's checkpoint (checkpointWriteLora) holds no model weights: the adapters, their
// moments (lora/lora.h's files), trainer_state.json, and lora_base.json naming the base
// model folder and a content hash of its model.safetensors. Reading one loads that base
// and refuses (naming both hashes) when its model.safetensors is not the one the run
// started from. Older LoRA checkpoints with a copy of the base beside the adapters still
// read as ordinary checkpoints.
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

// What a LoRA checkpoint names instead of holding the base weights.
struct LoraBaseRef {
    std::string dir;   // the base model folder (absolute)
    std::string hash;  // baseModelHash of its model.safetensors
};

// "fnv1a64:<16 hex digits>:<bytes>" of dir/model.safetensors: a content hash (64-bit
// FNV-1a over the bytes, and the size), enough to tell one model file from another.
Expected<std::string> baseModelHash(const std::string& modelDir);
Expected<LoraBaseRef> loraBaseRef(const std::string& modelDir);  // absolute dir + its hash

// `adapters` writes the adapter files into the temporary folder (and refuses non-finite
// ones); the rest is checkpointWrite's atomic sequence, with lora_base.json in place of the
// model and optimizer files.
Status checkpointWriteLora(const std::string& outDir, int64_t step, const LoraBaseRef& base,
                           const std::string& trainerStateJson, int keep,
                           const std::function<Status(const std::string& tmpDir)>& adapters);

struct Checkpoint {
    std::string dir;   // the ckpt-<step> folder read
    TrainModel model;  // a LoRA checkpoint's: the base, loaded from its lora_base.json
    AdamWState opt;    // a LoRA checkpoint's: empty (only the adapters have moments)
    std::string trainerStateJson;
    LoraBaseRef loraBase;  // set for a LoRA checkpoint without a base copy
};

// `dir` is either a checkpoint folder or an OUT folder whose `latest` names one.
Expected<Checkpoint> checkpointRead(const std::string& dir);

}  // namespace lectern::train
