// `lectern-cli generate --model DIR --prompt TEXT [--max-tokens N] [--greedy | --temperature
// T --top-k K --top-p P --min-p M] [--repetition-penalty R] [--stop S]... [--seed S]
// [--state-in FILE] [--state-out FILE]`: reads the prompt (after a saved state, if given)
// and streams the continuation to stdout; Ctrl-C stops it cleanly. Uses the folder's
// tokenizer.json if present, else byte-level ids.
#include <atomic>
#include <csignal>
#include <cstdio>

#include "cli/command.h"
#include "cli/engine/engine_text.h"
#include "io/state_file.h"

namespace lectern::cli {
namespace {

struct GenerateArgs {
    std::string model, prompt, stateIn, stateOut, device = "cpu";
    generate::GenerateOptions gen;
    bool quiet = false;
};

std::atomic<bool> gInterrupted{false};
extern "C" void onInterrupt(int) {
    gInterrupted.store(true);
}

int fail(const std::string& message) {
    std::fprintf(stderr, "lectern-cli generate: %s\n", message.c_str());
    return kExitFailure;
}

int runGenerate(GenerateArgs& a) {
    auto model = Model::load(a.model, a.device == "cuda"   ? DeviceKind::Cuda
                                      : a.device == "auto" ? DeviceKind::Auto
                                                           : DeviceKind::Cpu);
    if (!model) return fail(model.error());
    auto text = loadModelText(a.model);
    if (!text) return fail(text.error());
    Session session = model->newSession();
    if (!a.stateIn.empty())
        if (Status s = io::stateLoad(a.stateIn, *model, session); !s) return fail(s.message());
    const std::vector<int32_t> prompt = text->encode(a.prompt);
    if (Status s = session.prefill(prompt); !s) return fail(s.message());
    a.gen.history = prompt;
    a.gen.endOfSequence = text->endOfSequence;
    a.gen.cancel = &gInterrupted;
    a.gen.onToken = [](const generate::TokenEvent& e) {
        std::fwrite(e.text.data(), 1, e.text.size(), stdout);
        std::fflush(stdout);
        return true;
    };
    auto old = std::signal(SIGINT, onInterrupt);
    auto r = generate::generate(*model, session, a.gen, text->decoder());
    std::signal(SIGINT, old);
    std::printf("\n");
    if (!r) return fail(r.error());
    if (!a.quiet)
        std::fprintf(stderr, "[%zu tokens, stopped by %s; state at position %lld]\n", r->ids.size(),
                     generate::stopReasonName(r->reason),
                     static_cast<long long>(session.position()));
    if (!a.stateOut.empty())
        if (Status s = io::stateSave(a.stateOut, *model, session); !s) return fail(s.message());
    return r->reason == generate::StopReason::Cancelled ? kExitInterrupted : kExitOk;
}

const CommandRegistration registration{{
    "generate",
    "Continue a prompt with the model, streaming tokens to stdout",
    [](CLI::App& sub, const GlobalOptions&) -> std::function<int()> {
        auto a = std::make_shared<GenerateArgs>();
        auto& s = a->gen.sampling;
        sub.add_option("--model", a->model, "model folder (config.json + weights)")->required();
        sub.add_option("--prompt", a->prompt, "text to continue");
        sub.add_option("--max-tokens", a->gen.maxTokens, "tokens to generate (default 64)");
        auto* greedy = sub.add_flag("--greedy", s.greedy, "always take the most likely token");
        for (auto* o : {sub.add_option("--temperature", s.temperature, "softmax temperature"),
                        sub.add_option("--top-k", s.topK, "keep the K most likely (0: off)"),
                        sub.add_option("--top-p", s.topP, "nucleus mass (1: off)"),
                        sub.add_option("--min-p", s.minP, "keep p >= M * p_max (0: off)")})
            o->excludes(greedy);
        sub.add_option("--repetition-penalty", s.repetitionPenalty, "CTRL penalty (1: off)");
        sub.add_option("--stop", a->gen.stop, "stop string (repeatable)");
        sub.add_option("--seed", s.seed, "sampling seed (default 0)");
        sub.add_option("--state-in", a->stateIn, "document state file to continue");
        sub.add_option("--state-out", a->stateOut, "write the final document state here");
        sub.add_option("--device", a->device, "cpu, cuda or auto")
            ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
        sub.add_flag("--quiet", a->quiet, "no summary line on stderr");
        return [a] { return runGenerate(*a); };
    },
}};

}  // namespace
}  // namespace lectern::cli
