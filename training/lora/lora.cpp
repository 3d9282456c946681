// LoRA adapters (lora/lora.h): init, merge, gradients through the merge, AdamW, files.
#include "training/lora/lora.h"

#include <cblas.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "io/byte_source.h"
#include "io/safetensors.h"
#include "training/params.h"

namespace lectern::train {
namespace {

using json = nlohmann::json;

// The base-name suffix of each target module.
const char* suffixOf(const std::string& target) {
    if (target == "in_proj") return ".mixer.in_proj.weight";
    if (target == "out_proj") return ".mixer.out_proj.weight";
    if (target == "fc1") return ".mlp.fc1.weight";
    if (target == "fc2") return ".mlp.fc2.weight";
    return nullptr;
}

bool endsWith(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::vector<std::string> expandTargets(const std::vector<std::string>& targets) {
    std::vector<std::string> out;
    for (const std::string& t : targets) {
        if (t == "mlp") {
            out.push_back("fc1"), out.push_back("fc2");
        } else {
            out.push_back(t);
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

// The model tensor each adapter belongs to, in namedParams order.
std::vector<float>* baseTensor(const model::ModelConfig& mc, model::ModelWeights& w,
                               const std::string& name) {
    for (NamedTensor& t : namedParams(mc, w))
        if (t.name == name) return t.data;
    return nullptr;
}

std::string stem(const std::string& name) {  // without the trailing ".weight"
    return name.substr(0, name.size() - 7);
}

Expected<std::string> readText(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return Status::error(path + ": cannot open");
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

}  // namespace

Expected<LoraAdapters> loraInit(const model::ModelConfig& mc, const LoraConfig& c, uint64_t seed) {
    if (c.rank < 1) return Status::error("LoRA rank must be at least 1");
    if (!(c.alpha > 0.0)) return Status::error("LoRA alpha must be positive");
    LoraAdapters a;
    a.cfg = c;
    a.cfg.targets = expandTargets(c.targets);
    if (a.cfg.targets.empty()) return Status::error("no LoRA target modules given");
    model::ModelWeights shapes = zerosLike(mc);
    std::mt19937_64 rng(seed ^ 0x4c6f5241ull);  // "LoRA": not the init's stream
    for (const std::string& t : a.cfg.targets) {
        const char* suffix = suffixOf(t);
        if (suffix == nullptr)
            return Status::error("unknown LoRA target '" + t +
                                 "' (in_proj, out_proj, fc1, fc2 or mlp)");
        size_t found = 0;
        for (NamedTensor& n : namedParams(mc, shapes)) {
            if (!endsWith(n.name, suffix)) continue;
            LoraTarget lt;
            lt.name = n.name, lt.out = n.shape[0], lt.in = n.shape[1];
            std::uniform_real_distribution<float> u(-1.0f / std::sqrt(float(lt.in)),
                                                    1.0f / std::sqrt(float(lt.in)));
            lt.A.resize(size_t(c.rank * lt.in));
            for (float& v : lt.A) v = u(rng);
            lt.B.assign(size_t(lt.out * c.rank), 0.0f);
            a.targets.push_back(std::move(lt));
            ++found;
        }
        if (found == 0) return Status::error("the model has no '" + t + "' to adapt");
    }
    // Model order (layer by layer), whatever order the targets were named in.
    std::vector<std::string> order;
    for (NamedTensor& n : namedParams(mc, shapes)) order.push_back(n.name);
    std::stable_sort(a.targets.begin(), a.targets.end(), [&](const auto& x, const auto& y) {
        return std::find(order.begin(), order.end(), x.name) <
               std::find(order.begin(), order.end(), y.name);
    });
    for (LoraTarget& t : a.targets) {
        t.mA.assign(t.A.size(), 0.0f), t.vA = t.mA, t.gA = t.mA;
        t.mB.assign(t.B.size(), 0.0f), t.vB = t.mB, t.gB = t.mB;
    }
    return a;
}

void loraMerge(const model::ModelConfig& mc, const model::ModelWeights& base, const LoraAdapters& a,
               model::ModelWeights& out) {
    out = base;
    const int r = a.cfg.rank;
    for (const LoraTarget& t : a.targets) {
        std::vector<float>* W = baseTensor(mc, out, t.name);
        // W [out, in] += s · B [out, r] · A [r, in]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(t.out), int(t.in), r,
                    float(a.cfg.scale()), t.B.data(), r, t.A.data(), int(t.in), 1.0f, W->data(),
                    int(t.in));
    }
}

void loraGrads(const model::ModelConfig& mc, model::ModelWeights& fullGrads, LoraAdapters& a) {
    const int r = a.cfg.rank;
    const float s = float(a.cfg.scale());
    for (LoraTarget& t : a.targets) {
        const std::vector<float>* G = baseTensor(mc, fullGrads, t.name);
        // dB [out, r] = s · G [out, in] · Aᵀ;  dA [r, in] = s · Bᵀ · G
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(t.out), r, int(t.in), s, G->data(),
                    int(t.in), t.A.data(), int(t.in), 0.0f, t.gB.data(), r);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, int(t.in), int(t.out), s,
                    t.B.data(), r, G->data(), int(t.in), 0.0f, t.gA.data(), int(t.in));
    }
}

double loraGradNorm(const LoraAdapters& a) {
    double ss = 0.0;
    for (const LoraTarget& t : a.targets) {
        for (float g : t.gA) ss += double(g) * g;
        for (float g : t.gB) ss += double(g) * g;
    }
    return std::sqrt(ss);
}

void loraScaleGrads(LoraAdapters& a, float factor) {
    for (LoraTarget& t : a.targets) {
        for (float& g : t.gA) g *= factor;
        for (float& g : t.gB) g *= factor;
    }
}

void loraAdamw(const AdamWConfig& c, double lr, LoraAdapters& a) {
    a.step += 1;
    const float wd = float(c.weightDecay);
    for (LoraTarget& t : a.targets) {
        adamw_tensor(c, lr, wd, a.step, t.A.data(), t.gA.data(), t.mA.data(), t.vA.data(),
                     int64_t(t.A.size()));
        adamw_tensor(c, lr, wd, a.step, t.B.data(), t.gB.data(), t.mB.data(), t.vB.data(),
                     int64_t(t.B.size()));
    }
}

bool loraAllFinite(const LoraAdapters& a) {
    for (const LoraTarget& t : a.targets)
        for (const auto* v : {&t.A, &t.B, &t.mA, &t.vA, &t.mB, &t.vB})
            for (float x : *v)
                if (!std::isfinite(x)) return false;
    return true;
}

Status loraWrite(const std::string& dir, const LoraAdapters& a, bool withOptimizer) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::error(dir + ": cannot create folder: " + ec.message());
    std::vector<std::string> modules;
    for (const std::string& t : a.cfg.targets) modules.push_back(t);
    const json cfg{{"peft_type", "LORA"},
                   {"r", a.cfg.rank},
                   {"lora_alpha", a.cfg.alpha},
                   {"target_modules", modules},
                   {"bias", "none"}};
    if (Status st = io::writeFileAtomic(dir + "/adapter_config.json", cfg.dump(2) + "\n"); !st)
        return st;
    io::TensorMap m, opt;
    const int64_t r = a.cfg.rank;
    for (const LoraTarget& t : a.targets) {
        m[stem(t.name) + ".lora_A.weight"] = io::RawTensor::fromFloat32(t.A, {r, t.in});
        m[stem(t.name) + ".lora_B.weight"] = io::RawTensor::fromFloat32(t.B, {t.out, r});
        opt["m." + stem(t.name) + ".lora_A.weight"] = io::RawTensor::fromFloat32(t.mA, {r, t.in});
        opt["v." + stem(t.name) + ".lora_A.weight"] = io::RawTensor::fromFloat32(t.vA, {r, t.in});
        opt["m." + stem(t.name) + ".lora_B.weight"] = io::RawTensor::fromFloat32(t.mB, {t.out, r});
        opt["v." + stem(t.name) + ".lora_B.weight"] = io::RawTensor::fromFloat32(t.vB, {t.out, r});
    }
    if (Status st = io::safetensorsWrite(dir + "/adapter_model.safetensors", m); !st) return st;
    if (!withOptimizer) return Status::ok();
    return io::safetensorsWrite(dir + "/adapter_optimizer.safetensors", opt,
                                {{"step", std::to_string(a.step)}});
}

bool loraPresent(const std::string& dir) {
    return std::filesystem::exists(dir + "/adapter_config.json");
}

Expected<LoraAdapters> loraRead(const std::string& dir, const model::ModelConfig& mc) {
    const std::string cfgPath = dir + "/adapter_config.json";
    auto text = readText(cfgPath);
    if (!text) return text.status();
    const json j = json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("r") || !j["r"].is_number_integer() ||
        !j.contains("lora_alpha") || !j["lora_alpha"].is_number() ||
        !j.contains("target_modules") || !j["target_modules"].is_array())
        return Status::error(cfgPath +
                             ": not a LoRA adapter config (r, lora_alpha, target_modules)");
    LoraConfig c;
    c.rank = j["r"].get<int>();
    c.alpha = j["lora_alpha"].get<double>();
    c.targets.clear();
    for (const json& t : j["target_modules"]) {
        if (!t.is_string()) return Status::error(cfgPath + ": target_modules must be strings");
        c.targets.push_back(t.get<std::string>());
    }
    auto a = loraInit(mc, c, 0);
    if (!a) return a.status().withContext(cfgPath);
    const std::string wPath = dir + "/adapter_model.safetensors";
    auto file = io::safetensorsRead(wPath);
    if (!file) return file.status();
    auto load = [](const io::TensorMap& tm, const std::string& path, const std::string& name,
                   std::vector<float>& into) -> Status {
        auto it = tm.find(name);
        if (it == tm.end()) return Status::error(path + ": missing '" + name + "'");
        if (it->second.numel() != int64_t(into.size()))
            return Status::error(path + ": '" + name + "' has the wrong shape");
        auto f = it->second.toFloat32();
        if (!f) return f.status();
        into = std::move(*f);
        return Status::ok();
    };
    for (LoraTarget& t : a->targets) {
        if (Status st = load(file->tensors, wPath, stem(t.name) + ".lora_A.weight", t.A); !st)
            return st;
        if (Status st = load(file->tensors, wPath, stem(t.name) + ".lora_B.weight", t.B); !st)
            return st;
    }
    const std::string oPath = dir + "/adapter_optimizer.safetensors";
    if (!std::filesystem::exists(oPath)) return a;
    auto opt = io::safetensorsRead(oPath);
    if (!opt) return opt.status();
    auto it = opt->metadata.find("step");
    const char* b = it == opt->metadata.end() ? nullptr : it->second.data();
    if (b == nullptr || std::from_chars(b, b + it->second.size(), a->step).ec != std::errc())
        return Status::error(oPath + ": no valid 'step' metadata");
    for (LoraTarget& t : a->targets) {
        const std::string sA = stem(t.name) + ".lora_A.weight",
                          sB = stem(t.name) + ".lora_B.weight";
        for (auto [name, into] : {std::pair{"m." + sA, &t.mA}, std::pair{"v." + sA, &t.vA},
                                  std::pair{"m." + sB, &t.mB}, std::pair{"v." + sB, &t.vB}})
            if (Status st = load(opt->tensors, oPath, name, *into); !st) return st;
    }
    return a;
}

}  // namespace lectern::train
