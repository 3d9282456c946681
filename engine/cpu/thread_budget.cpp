// thread_budget_apply (see thread_budget.h).
#include "thread_budget.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace lectern::cpu {
namespace {

// Runnable scheduling entities now (4th field of /proc/loadavg, "running/total"), or -1.
int runnableNow() {
    std::FILE* f = std::fopen("/proc/loadavg", "r");
    if (f == nullptr) return -1;
    double l1, l5, l15;
    int running = -1, total = 0;
    if (std::fscanf(f, "%lf %lf %lf %d/%d", &l1, &l5, &l15, &running, &total) != 5) running = -1;
    std::fclose(f);
    return running;
}

}  // namespace

int thread_budget_apply() {
    static const int fixed = [] {
        const char* e = std::getenv("LECTERN_THREADS");
        return e ? std::max(0, std::atoi(e)) : 0;
    }();
    static const int maxThreads = omp_get_max_threads();
    thread_local int lastTeam = 0;
    // /proc costs ~10 us: probe at most every 20 ms (tiny models decode a token in 50 us).
    thread_local std::chrono::steady_clock::time_point lastProbe;
    const auto now = std::chrono::steady_clock::now();
    if (lastTeam > 0 && now - lastProbe < std::chrono::milliseconds(20)) {
        omp_set_num_threads(lastTeam);
        return lastTeam;
    }
    lastProbe = now;
    int n = fixed > 0 ? fixed : maxThreads;
    if (fixed == 0 && maxThreads > 1) {
        const int running = runnableNow();
        if (running > 0) {
            // Ours: this thread plus the previous team's workers, which may still be spinning.
            const int ours = 1 + std::max(0, (lastTeam > 0 ? lastTeam : maxThreads) - 1);
            const int others = std::max(0, running - ours);
            n = std::clamp(maxThreads - others, 1, maxThreads);
        }
    }
    omp_set_num_threads(n);
    lastTeam = n;
    return n;
}

}  // namespace lectern::cpu
