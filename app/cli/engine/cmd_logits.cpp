// `lectern-cli logits --model DIR --ids FILE --out FILE.safetensors [--device cpu]`:
// one forward over int32 input_ids [B, L] (a safetensors file, as in ../shared/golden);
// writes fp32 `logits` [B, L, V_pad] and the final states under the golden names
// (layers.{i}.angle_state [B, H, A], ssm_state [B, H, P, N], k_state [B, R, H, N],
// v_state [B, H, P]). Each batch row is an independent document.
#include <cstdio>

#include "cli/command.h"
#include "io/input_ids.h"
#include "io/safetensors.h"
#include "lectern/engine.h"

namespace lectern::cli {
namespace {

struct LogitsArgs {
    std::string model, ids, out, device = "cpu", form = "chunked";
};

int fail(const std::string& message) {
    std::fprintf(stderr, "lectern-cli logits: %s\n", message.c_str());
    return kExitFailure;
}

int runLogits(const LogitsArgs& a) {
    const DeviceKind device = a.device == "cuda"   ? DeviceKind::Cuda
                              : a.device == "auto" ? DeviceKind::Auto
                                                   : DeviceKind::Cpu;
    auto model = Model::load(a.model, device);
    if (!model) return fail(model.error());
    int64_t B = 0, L = 0;
    auto ids = io::readInputIds(a.ids, B, L);
    if (!ids) return fail(ids.error());
    const int64_t V = model->info().vocabPadded;
    std::vector<float> logits;
    logits.reserve(size_t(B * L * V));
    std::vector<Session> rows;
    PrefillOptions opt;
    opt.form = a.form == "recurrent" ? ScanForm::Recurrent : ScanForm::Chunked;
    opt.allLogits = &logits;
    for (int64_t b = 0; b < B; ++b) {
        rows.push_back(model->newSession());
        Status st = rows.back().prefill(std::span(*ids).subspan(size_t(b * L), size_t(L)), opt);
        if (!st) return fail(a.ids + ": row " + std::to_string(b) + ": " + st.message());
    }
    io::TensorMap out;
    out["logits"] = io::RawTensor::fromFloat32(logits, {B, L, V});
    for (int i = 0; i < model->info().nLayer && B > 0; ++i) {
        for (int which = 0; which < 4; ++which) {
            std::vector<float> all;
            std::vector<int64_t> shape = rows[0].state().tensorShape(which);
            shape[0] = B;
            for (const Session& s : rows) {
                const LayerState& ls = s.state().layers()[size_t(i)];
                const std::vector<float>* v[4] = {&ls.angle, &ls.ssm, &ls.k, &ls.v};
                all.insert(all.end(), v[which]->begin(), v[which]->end());
            }
            out[DocumentState::tensorName(i, which)] = io::RawTensor::fromFloat32(all, shape);
        }
    }
    if (Status st = io::safetensorsWrite(a.out, out); !st) return fail(st.message());
    std::printf("wrote %s: logits [%lld, %lld, %lld] and the states of %d layers\n", a.out.c_str(),
                (long long)B, (long long)L, (long long)V, model->info().nLayer);
    return kExitOk;
}

const CommandRegistration registration{{
    "logits",
    "Run the model over token ids and write logits and final states (safetensors)",
    [](CLI::App& sub, const GlobalOptions&) -> std::function<int()> {
        auto a = std::make_shared<LogitsArgs>();
        sub.add_option("--model", a->model, "model folder")->required();
        sub.add_option("--ids", a->ids, "safetensors file with int32 input_ids [B, L]")->required();
        sub.add_option("--out", a->out, "output .safetensors")->required();
        sub.add_option("--device", a->device, "cpu, cuda or auto")
            ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
        sub.add_option("--form", a->form, "scan form: chunked (prefill) or recurrent (step)")
            ->check(CLI::IsMember({"chunked", "recurrent"}));
        return [a] { return runLogits(*a); };
    },
}};

}  // namespace
}  // namespace lectern::cli
