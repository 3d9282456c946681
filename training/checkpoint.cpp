// Atomic training checkpoints (checkpoint.h).
#include "training/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
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

}  // namespace

Status checkpointWrite(const std::string& outDir, int64_t step, TrainModel& m, AdamWState& opt,
                       const std::string& trainerStateJson, int keep,
                       const std::function<Status(const std::string& tmpDir)>& extra) {
    if (!allFinite(m.cfg, m.w) || !allFinite(m.cfg, opt.m) || !allFinite(m.cfg, opt.v))
        return Status::error("step " + std::to_string(step) +
                             ": non-finite weights or moments; checkpoint not written");
    const fs::path out(outDir), final = out / ckptName(step);
    const fs::path tmp = out / (ckptName(step) + ".tmp");
    std::error_code ec;
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp, ec);
    if (ec) return Status::error(tmp.string() + ": cannot create folder: " + ec.message());
    if (Status st = writeModelDir(tmp.string(), m); !st) return st;
    if (Status st = writeOptimizer(tmp / "optimizer.safetensors", m.cfg, opt); !st) return st;
    if (Status st = io::writeFileAtomic((tmp / "trainer_state.json").string(), trainerStateJson);
        !st)
        return st;
    if (extra)
        if (Status st = extra(tmp.string()); !st) return st;
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
