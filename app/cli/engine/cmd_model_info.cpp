// `lectern-cli model info DIR`: a model folder's architecture, parameter count and the
// memory one document's state takes. Loads (and so fully checks) the weights.
// `lectern-cli model memory DIR --text FILE`: each head's decay on a text (model_memory.h).
#include <cstdio>

#include "cli/command.h"
#include "cli/engine/model_memory.h"
#include "lectern/engine.h"

namespace lectern::cli {
namespace {

int runInfo(const std::string& dir) {
    auto model = Model::load(dir);
    if (!model) {
        std::fprintf(stderr, "lectern-cli model info: %s\n", model.error().c_str());
        return kExitFailure;
    }
    const ModelInfo& i = model->info();
    std::printf("architecture      %s\n", i.architecture.c_str());
    std::printf("d_model           %d\n", i.dModel);
    std::printf("layers            %d\n", i.nLayer);
    std::printf("vocab             %d (padded %d)\n", i.vocabSize, i.vocabPadded);
    std::printf("d_state           %d\n", i.dState);
    std::printf("heads x headdim   %d x %d (groups %d)\n", i.nHeads, i.headdim, i.ngroups);
    std::printf("rotary angles     %d per head\n", i.ropeAngles);
    std::printf("out-proj norm     %s\n", i.outprojNorm ? "yes" : "no");
    std::printf(
        "MLP               %s\n",
        i.dIntermediate ? ("d_intermediate " + std::to_string(i.dIntermediate)).c_str() : "none");
    std::printf("embeddings        %s\n", i.tiedEmbeddings ? "tied" : "untied");
    std::printf("chunk size        %d\n", i.chunkSize);
    std::printf("parameters        %lld (%.2f M)\n", (long long)i.parameterCount,
                double(i.parameterCount) / 1e6);
    std::printf("state / document  %lld bytes (%.3f MiB, fp32)\n", (long long)i.stateBytes,
                double(i.stateBytes) / (1024.0 * 1024.0));
    return kExitOk;
}

const CommandRegistration registration{{
    "model",
    "Inspect a model folder (config.json + weights)",
    [](CLI::App& sub, const GlobalOptions&) -> std::function<int()> {
        auto dir = std::make_shared<std::string>();
        CLI::App* info = sub.add_subcommand("info", "Architecture, parameters, state size");
        info->add_option("DIR", *dir, "model folder")->required();
        auto mem = std::make_shared<ModelMemoryArgs>();
        CLI::App* memory =
            sub.add_subcommand("memory", "How long each SSM head keeps what it read, on a text");
        memory->add_option("DIR", mem->model, "model folder")->required();
        memory->add_option("--text", mem->text, "text file (bytes)")->required();
        memory->add_option("--tokens", mem->tokens, "read the first N bytes")
            ->check(CLI::Range(int64_t(2), int64_t(1) << 20));
        sub.require_subcommand(1);
        return [dir, info, mem, memory] {
            if (info->parsed()) return runInfo(*dir);
            if (memory->parsed()) return runModelMemory(*mem);
            return int(kExitUsage);
        };
    },
}};

}  // namespace
}  // namespace lectern::cli
