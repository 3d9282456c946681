// Atomic training checkpoints (checkpoint.h).
#include "training/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "io/byte_source.h"
#include "io/safetensors.h"
#include "training/params.h"

namespace lectern::train {
namespace fs = std::filesystem;
namespace {

void fsyncDir(const fs::path& p) {
    const int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

std::string ckptName(int64_t step) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "ckpt-%08lld", (long long)step);
    return buf;
}

Status writeOptimizer(const fs::path& path, const model::ModelConfig& cfg, AdamWState& opt) {
    io::TensorMap t;
    for (auto& [name, tensor] : toTensorMap(cfg, opt.m, "m.")) t[name] = std::move(tensor);
    for (auto& [name, tensor] : toTensorMap(cfg, opt.v, "v.")) t[name] = std::move(tensor);
    return io::safetensorsWrite(path.string(), t, {{"step", std::to_string(opt.step)}});
}

Expected<AdamWState> readOptimizer(const fs::path& path, const model::ModelConfig& cfg) {
    auto file = io::safetensorsRead(path.string());
    if (!file) return file.status();
    AdamWState s = adamwInit(cfg);
    auto it = file->metadata.find("step");
    if (it == file->metadata.end()) return Status::error(path.string() + ": no 'step' metadata");
    const char* b = it->second.data();
    if (std::from_chars(b, b + it->second.size(), s.step).ec != std::errc() || s.step < 0)
        return Status::error(path.string() + ": bad 'step' metadata '" + it->second + "'");
    for (auto [prefix, w] : {std::pair{"m.", &s.m}, std::pair{"v.", &s.v}}) {
        for (NamedTensor& n : namedParams(cfg, *w)) {
            auto t = file->tensors.find(prefix + n.name);
            if (t == file->tensors.end() || t->second.shape != n.shape)
                return Status::error(path.string() + ": missing or misshapen '" + prefix + n.name +
                                     "'");
            auto f = t->second.toFloat32();
            if (!f) return f.status();
            *n.data = std::move(*f);
        }
    }
    return s;
}

void removeOld(const fs::path& out, int keep) {
    std::set<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(out, ec)) {
        const std::string n = e.path().filename().string();
        if (n.rfind("ckpt-", 0) == 0 && n.find('.') == std::string::npos) names.insert(n);
    }
    while (int(names.size()) > keep) {
        fs::remove_all(out / *names.begin(), ec);
        names.erase(names.begin());
    }
}

// The atomic sequence every checkpoint goes through: `fill` writes the files into
// ckpt-<step>.tmp/, which is fsynced and renamed into place before `latest` names it.
Status writeAtomically(const fs::path& out, int64_t step, int keep,
                       const std::function<Status(const fs::path& tmp)>& fill) {
    const fs::path final = out / ckptName(step);
    const fs::path tmp = out / (ckptName(step) + ".tmp");
    std::error_code ec;
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp, ec);
    if (ec) return Status::error(tmp.string() + ": cannot create folder: " + ec.message());
    if (Status st = fill(tmp); !st) return st;
    fsyncDir(tmp);
    fs::remove_all(final, ec);
    fs::rename(tmp, final, ec);
    if (ec) return Status::error(final.string() + ": cannot rename into place: " + ec.message());
    fsyncDir(out);
    if (Status st = io::writeFileAtomic((out / "latest").string(), ckptName(step) + "\n"); !st)
        return st;
    removeOld(out, keep);
    return Status::ok();
}

Expected<std::string> readText(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    if (!f) return Status::error(p.string() + ": cannot open");
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

// lora_base.json's base, checked against the hash the run started from, loaded.
Expected<TrainModel> loadLoraBase(const fs::path& ckpt, LoraBaseRef& ref) {
    const fs::path path = ckpt / "lora_base.json";
    auto text = readText(path);
    if (!text) return text.status();
    const nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("base") || !j["base"].is_string() ||
        !j.contains("model_hash") || !j["model_hash"].is_string())
        return Status::error(path.string() + ": malformed (needs \"base\" and \"model_hash\")");
    ref.dir = j["base"].get<std::string>();
    ref.hash = j["model_hash"].get<std::string>();
    auto now = baseModelHash(ref.dir);
    if (!now)
        return Status::error(ckpt.string() + ": cannot read the LoRA base model this run " +
                             "fine-tunes: " + now.error());
    if (*now != ref.hash)
        return Status::error(ckpt.string() + ": the LoRA base " + ref.dir +
                             "/model.safetensors is not the one this run started from (hash " +
                             *now + ", the checkpoint expects " + ref.hash +
                             "); resume on the same base model");
    return loadTrainModel(ref.dir);
}

}  // namespace

Expected<std::string> baseModelHash(const std::string& modelDir) {
    const fs::path path = fs::path(modelDir) / "model.safetensors";
    std::ifstream f(path, std::ios::binary);
    if (!f) return Status::error(path.string() + ": cannot open");
    uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64
    uint64_t bytes = 0;
    std::vector<char> buf(size_t(1) << 20);
    while (f) {
        f.read(buf.data(), std::streamsize(buf.size()));
        const std::streamsize n = f.gcount();
        for (std::streamsize i = 0; i < n; ++i) {
            h ^= uint8_t(buf[size_t(i)]);
            h *= 0x100000001b3ull;
        }
        bytes += uint64_t(n);
    }
    if (f.bad()) return Status::error(path.string() + ": read error");
    char out[64];
    std::snprintf(out, sizeof out, "fnv1a64:%016llx:%llu", (unsigned long long)h,
                  (unsigned long long)bytes);
    return std::string(out);
}

Expected<LoraBaseRef> loraBaseRef(const std::string& modelDir) {
    std::error_code ec;
    const fs::path abs = fs::absolute(modelDir, ec);
    if (ec) return Status::error(modelDir + ": " + ec.message());
    auto h = baseModelHash(abs.lexically_normal().string());
    if (!h) return h.status();
    return LoraBaseRef{abs.lexically_normal().string(), *h};
}

Status checkpointWriteLora(const std::string& outDir, int64_t step, const LoraBaseRef& base,
                           const std::string& trainerStateJson, int keep,
                           const std::function<Status(const std::string& tmpDir)>& adapters) {
    return writeAtomically(fs::path(outDir), step, keep, [&](const fs::path& tmp) -> Status {
        if (Status st = adapters(tmp.string()); !st)
            return st.withContext("step " + std::to_string(step));
        const nlohmann::json ref{{"base", base.dir}, {"model_hash", base.hash}};
        if (Status st = io::writeFileAtomic((tmp / "lora_base.json").string(), ref.dump(2) + "\n");
            !st)
            return st;
        return io::writeFileAtomic((tmp / "trainer_state.json").string(), trainerStateJson);
    });
}

Status checkpointWrite(const std::string& outDir, int64_t step, TrainModel& m, AdamWState& opt,
                       const std::string& trainerStateJson, int keep,
                       const std::function<Status(const std::string& tmpDir)>& extra) {
    if (!allFinite(m.cfg, m.w) || !allFinite(m.cfg, opt.m) || !allFinite(m.cfg, opt.v))
        return Status::error("step " + std::to_string(step) +
                             ": non-finite weights or moments; checkpoint not written");
    return writeAtomically(fs::path(outDir), step, keep, [&](const fs::path& tmp) -> Status {
        if (Status st = writeModelDir(tmp.string(), m); !st) return st;
        if (Status st = writeOptimizer(tmp / "optimizer.safetensors", m.cfg, opt); !st) return st;
        if (Status st =
                io::writeFileAtomic((tmp / "trainer_state.json").string(), trainerStateJson);
            !st)
            return st;
        if (extra)
            if (Status st = extra(tmp.string()); !st) return st;
        return Status::ok();
    });
}

Expected<Checkpoint> checkpointRead(const std::string& dir) {
    fs::path d(dir);
    if (!fs::exists(d / "trainer_state.json")) {
        std::ifstream f(d / "latest");
        std::string name;
        if (!(f >> name) || name.find('/') != std::string::npos)
            return Status::error(dir +
                                 ": neither a checkpoint folder nor one with a valid 'latest'");
        d /= name;
    }
    Checkpoint c;
    c.dir = d.string();
    if (fs::exists(d / "lora_base.json")) {  // adapters only: the base comes from its folder
        auto base = loadLoraBase(d, c.loraBase);
        if (!base) return base.status();
        c.model = std::move(*base);
        auto state = readText(d / "trainer_state.json");
        if (!state) return state.status();
        c.trainerStateJson = std::move(*state);
        if (c.trainerStateJson.empty()) return Status::error(c.dir + ": empty trainer_state.json");
        return c;
    }
    auto m = loadTrainModel(c.dir);
    if (!m) return m.status();
    c.model = std::move(*m);
    auto opt = readOptimizer(d / "optimizer.safetensors", c.model.cfg);
    if (!opt) return opt.status();
    c.opt = std::move(*opt);
    std::ifstream f(d / "trainer_state.json", std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    c.trainerStateJson = s.str();
    if (c.trainerStateJson.empty()) return Status::error(c.dir + ": empty trainer_state.json");
    return c;
}

}  // namespace lectern::train
