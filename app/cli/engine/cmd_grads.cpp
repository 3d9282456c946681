// `lectern-cli grads --model DIR --ids FILE --out FILE.safetensors [--device cpu|cuda]`: the
// training loss on int32 input_ids [B, L] and the gradient of every parameter, written as
// ../shared/golden/<case>/grads.safetensors holds them: `loss` (fp64 [1]), `loss_f32` and
// `grad.<official name>` (tied embeddings: one grad.backbone.embedding.weight, the sum of
// both uses, with the alias in __metadata__).
#include <cstdio>

#include "cli/command.h"
#include "io/safetensors.h"
#include "training/model_io.h"
#if LECTERN_HAVE_CUDA
#include "training/cuda/model_train_cuda.h"
#endif

namespace lectern::cli {
namespace {

struct GradsArgs {
    std::string model, ids, out, device = "cpu";
};

int fail(const std::string& message) {
    std::fprintf(stderr, "lectern-cli grads: %s\n", message.c_str());
    return kExitFailure;
}

int runGrads(const GradsArgs& a) {
#if !LECTERN_HAVE_CUDA
    if (a.device != "cpu") return fail("this build has no CUDA backend; use --device cpu");
#endif
    auto m = train::loadTrainModel(a.model);
    if (!m) return fail(m.error());
    int64_t B = 0, L = 0;
    auto ids = train::readInputIds(a.ids, B, L);
    if (!ids) return fail(ids.error());
#if LECTERN_HAVE_CUDA
    auto g = a.device == "cuda" ? train::computeGradsCuda(*m, *ids, B, L)
                                : train::computeGrads(*m, *ids, B, L);
#else
    auto g = train::computeGrads(*m, *ids, B, L);
#endif
    if (!g) return fail(a.ids + ": " + g.error());
    if (Status st = io::safetensorsWrite(a.out, g->tensors, g->metadata); !st)
        return fail(st.message());
    std::printf("wrote %s: loss %.8f over %lld x %lld tokens, %zu gradients\n", a.out.c_str(),
                g->loss, (long long)B, (long long)L, g->tensors.size() - 2);
    return kExitOk;
}

const CommandRegistration registration{{
    "grads",
    "Compute the training loss and every parameter gradient on token ids (safetensors)",
    [](CLI::App& sub, const GlobalOptions&) -> std::function<int()> {
        auto a = std::make_shared<GradsArgs>();
        sub.add_option("--model", a->model, "model folder")->required();
        sub.add_option("--ids", a->ids, "safetensors file with int32 input_ids [B, L]")->required();
        sub.add_option("--out", a->out, "output .safetensors")->required();
        sub.add_option("--device", a->device, "cpu or cuda (fp32 on the GPU)")
            ->check(CLI::IsMember({"cpu", "cuda"}));
        return [a] { return runGrads(*a); };
    },
}};

}  // namespace
}  // namespace lectern::cli
