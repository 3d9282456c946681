#include "training/cuda/step_profile.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace lectern::train {

StepProfile::StepProfile() {
    const char* e = std::getenv("LECTERN_TRAIN_PROFILE");
    on_ = e && *e && std::strcmp(e, "0") != 0;
}

StepProfile::~StepProfile() {
    if (on_ && !totals_.empty()) std::fprintf(stderr, "%s", table().c_str());
    for (const Mark& m : marks_) pool_.push_back(m.start), pool_.push_back(m.stop);
    for (cudaEvent_t e : pool_) cudaEventDestroy(e);
    if (openStart_) cudaEventDestroy(openStart_);
}

cudaEvent_t StepProfile::event() {
    if (!pool_.empty()) {
        cudaEvent_t e = pool_.back();
        pool_.pop_back();
        return e;
    }
    cudaEvent_t e = nullptr;
    cudaEventCreate(&e);
    return e;
}

void StepProfile::begin(const char* name, cudaStream_t s) {
    if (!on_) return;
    end(s);
    open_ = name;
    openStart_ = event();
    cudaEventRecord(openStart_, s);
}

void StepProfile::end(cudaStream_t s) {
    if (!on_ || !open_) return;
    cudaEvent_t stop = event();
    cudaEventRecord(stop, s);
    marks_.push_back(Mark{open_, openStart_, stop});
    open_ = nullptr;
    openStart_ = nullptr;
}

void StepProfile::collect(bool keepThese) {
    if (!on_) return;
    // The first step pays one-time costs (cuBLAS heuristics, module loads): left out.
    const bool keep = keepThese && steps_ > 0;
    for (const Mark& m : marks_) {
        float ms = 0.0f;
        if (keep && cudaEventElapsedTime(&ms, m.start, m.stop) == cudaSuccess) {
            auto& t = totals_[m.name];
            t.first += ms;
            t.second += 1;
        }
        pool_.push_back(m.start);
        pool_.push_back(m.stop);
    }
    marks_.clear();
    cudaGetLastError();  // a failed query above must not look like the next launch's error
}

std::string StepProfile::table() const {
    std::vector<std::pair<std::string, std::pair<double, long>>> rows(totals_.begin(),
                                                                      totals_.end());
    std::sort(rows.begin(), rows.end(),
              [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
    double all = 0.0;
    for (const auto& r : rows) all += r.second.first;
    const long kept = std::max(steps_ - 1, 1L);
    const double st = double(kept);
    std::string out =
        "training step profile (LECTERN_TRAIN_PROFILE, CUDA events): " + std::to_string(kept) +
        " steps after the first (validation forwards left out)\n";
    char line[256];
    std::snprintf(line, sizeof line, "%-28s %12s %12s %8s %8s\n", "phase", "total ms", "ms/step",
                  "share", "calls");
    out += line;
    for (const auto& r : rows) {
        std::snprintf(line, sizeof line, "%-28s %12.2f %12.2f %7.1f%% %8ld\n", r.first.c_str(),
                      r.second.first, r.second.first / st,
                      all > 0 ? 100.0 * r.second.first / all : 0.0, r.second.second);
        out += line;
    }
    std::snprintf(line, sizeof line, "%-28s %12.2f %12.2f\n", "sum", all, all / st);
    out += line;
    return out;
}

}  // namespace lectern::train
